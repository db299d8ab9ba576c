"""Shared fixtures of the workflow tests.

A `WorkflowDir` is a user's clone in miniature, in a temporary directory: config/,
workflow/, profiles/, the `slurm` link and the tiny test config (tests/configs/tiny.yaml),
passed with --configfile like a user's city file. The session fixture `tiny_run` runs the
whole workflow once; rerun tests work on copies of it (`completed_run`).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from apt_packages import apt_install
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "configs" / "tiny.yaml"
TINY_STUDY = REPO / "tests" / "configs" / "tiny_study.yaml"  # merged into TINY_CONFIG
COPIED = ["config", "workflow", "profiles"]
RUN_TIMEOUT_S = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest test files first: the SLURM run, the tiny study, the other workflow runs.

    `make test` hands whole files to its pytest-xdist workers in this order
    (`--dist loadfile --no-loadscope-reorder`), so that no long file starts last while the
    other workers are idle. A file keeps its own order of tests.
    """

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slurm"):
            return 0
        if "tiny_study_run" in item.fixturenames:
            return 1
        return 2 if item.get_closest_marker("slow") else 3

    file_rank: dict[Path, int] = {}
    for item in items:
        file_rank[item.path] = min(file_rank.get(item.path, 3), rank(item))
    items.sort(key=lambda item: file_rank[item.path])


def merge(base: dict, overrides: dict) -> dict:
    """Nested dicts merged key by key (as Snakemake merges config files); lists replaced."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def copy_workflow(dest: Path) -> Path:
    """Copy what a clone holds (config/, workflow/, profiles/, the `slurm` link) into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", ".snakemake", "*.pyc")
    for name in COPIED:
        shutil.copytree(REPO / name, dest / name, ignore=ignore, symlinks=True)
    (dest / "slurm").symlink_to(os.readlink(REPO / "slurm"))
    return dest


def job_table(output: str) -> Counter:
    """Rule -> job count from Snakemake's "Job stats" table (empty when nothing to do)."""
    if "Nothing to be done" in output:
        return Counter()
    match = re.search(r"Job stats:\n(.*?)\n\s*total\s+\d+", output, re.DOTALL)
    if match is None:
        raise AssertionError(f"no job table in Snakemake's output:\n{output[-3000:]}")
    rows = (line.split() for line in match.group(1).splitlines())
    return Counter({row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()})


def rule_stages(workflow: Path) -> dict[str, str]:
    """Rule name -> stage (the rules/<stage>.smk file that defines it)."""
    return {
        name: smk.stem
        for smk in sorted((workflow / "rules").glob("*.smk"))
        for name in re.findall(r"^\s*rule (\w+):", smk.read_text(), re.MULTILINE)
    }


def rule_scripts(workflow: Path) -> dict[str, Path]:
    """Rule name -> the script file it runs (rules with `script:` only)."""
    scripts = {}
    for smk in sorted((workflow / "rules").glob("*.smk")):
        for block in re.split(r"^(?=\s*rule \w+:)", smk.read_text(), flags=re.MULTILINE):
            name = re.match(r"\s*rule (\w+):", block)
            script = re.search(r"^\s+script:\s*\n\s+\"([^\"]+)\"", block, re.MULTILINE)
            if name and script:
                scripts[name.group(1)] = (smk.parent / script.group(1)).resolve()
    return scripts


def job_resources(output: str) -> dict[str, list[dict[str, str]]]:
    """Rule -> the `resources:` of each of its jobs, from Snakemake's (dry-run) job log."""
    jobs: dict[str, list[dict[str, str]]] = {}
    rule = None
    for line in output.splitlines():
        header = re.match(r"^(?:local)?rule (\w+):$", line)
        if header:
            rule = header.group(1)
        elif rule and line.strip().startswith("resources:"):
            items = line.strip().removeprefix("resources:").split(",")
            pairs = (item.strip().partition("=") for item in items)
            jobs.setdefault(rule, []).append({key: value for key, _, value in pairs})
            rule = None
    return jobs


@dataclass
class WorkflowDir:
    """A copy of the workflow with the tiny config, and Snakemake run inside it."""

    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / "tiny.yaml"

    def read_config(self) -> dict:
        return yaml.safe_load(self.config_file.read_text())

    def update_config(self, overrides: dict) -> None:
        """Deep-merge overrides into the tiny config file (what a user edits)."""
        self.config_file.write_text(yaml.safe_dump(merge(self.read_config(), overrides)))

    def snakemake(
        self,
        *args: str,
        cores: str = "2",
        configfile: str | None = "tiny.yaml",
        env: dict[str, str] | None = None,
        timeout_s: int = RUN_TIMEOUT_S,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run `snakemake --cores N --configfile tiny.yaml ARGS` here, bounded in time.

        SIGINT, not SIGTERM, on timeout: Snakemake then cancels its jobs and stops.
        """
        command = self.command(*args, cores=cores, configfile=configfile, timeout_s=timeout_s)
        result = subprocess.run(
            command, cwd=self.path, env=env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"snakemake {' '.join(args)} failed with {result.returncode} in {self.path}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-8000:]}"
            )
        return result

    def command(
        self,
        *args: str,
        cores: str = "2",
        configfile: str | None = "tiny.yaml",
        timeout_s: int = RUN_TIMEOUT_S,
    ) -> list[str]:
        """The command line of `snakemake()` (under `timeout`), to run it some other way."""
        config_args = [f"--configfile={configfile}"] if configfile else []  # one value, not nargs+
        return [
            shutil.which("timeout") or "timeout", "-s", "INT", "-k", "60", str(timeout_s),
            sys.executable, "-m", "snakemake", "--cores", cores, *config_args, *args,
        ]  # fmt: skip

    def start(self, *args: str, output: Path, **kwargs) -> subprocess.Popen:
        """Start the command of `snakemake(*args)` without waiting, stdout and stderr to output.

        In a session of its own: its process group holds Snakemake and every job it starts,
        so `kill_group` stops them all at once, as a node failure would.
        """
        with open(output, "w") as stream:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                self.command(*args, **kwargs),
                cwd=self.path,
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def planned_jobs(self, *args: str) -> Counter:
        """Rule -> count of the jobs a run would execute now (dry run), `all` left out."""
        result = self.snakemake("--dry-run", *args)
        jobs = job_table(result.stdout + result.stderr)
        jobs.pop("all", None)
        return jobs

    def mtimes(self, folder: str = "results") -> dict[str, int]:
        """Relative path -> mtime (ns) of every file under folder."""
        root = self.path / folder
        return {
            str(p.relative_to(self.path)): p.stat().st_mtime_ns
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }


def kill_group(process: subprocess.Popen) -> int:
    """SIGKILL a process started by `WorkflowDir.start` and everything in its group; its status."""
    with contextlib.suppress(ProcessLookupError):  # the group already ended
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def new_workflow_dir(dest: Path, overrides: dict | None = None) -> WorkflowDir:
    """A fresh copy of the workflow in dest with the tiny config (plus overrides)."""
    workdir = WorkflowDir(copy_workflow(dest))
    shutil.copyfile(TINY_CONFIG, workdir.config_file)
    if overrides:
        workdir.update_config(overrides)
    return workdir


@dataclass
class TinyRun:
    """The tiny workflow, run once to the end; seconds is its wall time."""

    workdir: WorkflowDir
    seconds: float
    log: str


@pytest.fixture
def workflow_dir(tmp_path: Path) -> WorkflowDir:
    """A fresh, never-run copy of the workflow with the tiny config."""
    return new_workflow_dir(tmp_path / "clone")


def session_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of this test session that every pytest-xdist worker sees.

    Each worker has a base temporary folder of its own (``.../pytest-N/popen-gw0``); their
    parent is the session's. Without xdist the base folder itself.
    """
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def run_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, overrides: dict | None
) -> TinyRun:
    """The tiny workflow (plus overrides) run to the end once per session, for all workers.

    The first worker to ask runs it under a file lock; the others wait for it and read its
    record (where the run is, how long it took, its log, or how it failed): one run, and a
    failed run fails everywhere with its own message instead of running again.
    """
    root = session_folder(tmp_path_factory) / name
    record = root.with_suffix(".json")
    with FileLock(root.with_suffix(".lock")):
        if not record.exists():
            workdir = new_workflow_dir(root / "clone", overrides)
            start = time.monotonic()
            try:
                log, error = workdir.snakemake().stderr, ""
            except AssertionError as failure:  # recorded: the other workers fail with it
                log, error = "", str(failure)
            seconds = time.monotonic() - start
            done = {"path": str(workdir.path), "seconds": seconds, "log": log, "error": error}
            record.write_text(json.dumps(done))
    done = json.loads(record.read_text())
    if done["error"]:
        raise AssertionError(done["error"])
    return TinyRun(WorkflowDir(Path(done["path"])), done["seconds"], done["log"])


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    """The whole tiny workflow run once locally (`snakemake --cores 2`), shared by tests."""
    return run_once(tmp_path_factory, "tiny_run", None)


def tiny_study_overrides() -> dict:
    """The study keys merged into the tiny config: two cities, two scales, two seeds."""
    return yaml.safe_load(TINY_STUDY.read_text())


@pytest.fixture(scope="session")
def tiny_study_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    """The tiny study run once to the end (`snakemake --cores 2`), shared by tests."""
    return run_once(tmp_path_factory, "tiny_study", tiny_study_overrides())


@pytest.fixture
def completed_study(tiny_study_run: TinyRun, tmp_path: Path) -> WorkflowDir:
    """A private copy of the completed tiny study (results, logs, .snakemake, mtimes kept)."""
    dest = tmp_path / "clone"
    shutil.copytree(tiny_study_run.workdir.path, dest, symlinks=True)
    return WorkflowDir(dest)


@pytest.fixture
def completed_run(tiny_run: TinyRun, tmp_path: Path) -> WorkflowDir:
    """A private copy of the completed tiny run (results, logs, .snakemake, mtimes kept)."""
    dest = tmp_path / "clone"
    shutil.copytree(tiny_run.workdir.path, dest, symlinks=True)
    return WorkflowDir(dest)


# --- a small demo city shared by the covariate tests ----------------------------------------


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory: pytest.TempPathFactory):
    """A 512 m demo city, generated once per session (the smallest with enough tiles of
    every phenotype for stable per-district means)."""
    from satcluster.demo import generate_demo_city

    return generate_demo_city(tmp_path_factory.mktemp("demo_city") / "demo", seed=7, size_m=512)


def demo_tiles_by_phenotype(truth_path: Path, size_m: float = 32.0):
    """A grid of square tiles (index tile_id) over the demo city, each with the phenotype
    of the district under its centre; tiles whose centre is in no district are dropped."""
    import geopandas as gpd
    import numpy as np
    import shapely

    truth = gpd.read_file(truth_path)
    west, south, east, north = truth.total_bounds
    x, y = np.meshgrid(
        np.arange(west, east - size_m + 1, size_m), np.arange(south, north - size_m + 1, size_m)
    )
    x, y = x.ravel(), y.ravel()
    tiles = gpd.GeoDataFrame(
        geometry=shapely.box(x, y, x + size_m, y + size_m),
        index=pd.RangeIndex(len(x), name="tile_id"),
        crs=truth.crs,
    )
    centres = gpd.GeoDataFrame(geometry=tiles.centroid, crs=truth.crs)
    joined = centres.sjoin(truth[["phenotype", "geometry"]], predicate="within")
    tiles["phenotype"] = joined["phenotype"].groupby(level=0).first()
    return tiles.dropna(subset=["phenotype"]).astype({"phenotype": int})


# --- a real browser (the web map tests) ------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _debian_root() -> str | None:
    """Why Chromium cannot be installed here, or None when it can."""
    if platform.system() != "Linux" or not Path("/etc/debian_version").exists():
        return "not Debian: install chromium and chromium-driver to run the browser tests"
    if os.geteuid() != 0:
        return "not root: `apt-get install chromium chromium-driver` to run the browser tests"
    return None


@pytest.fixture(scope="session")
def chromium() -> None:
    """Debian's chromium and chromedriver, installed with apt-get when missing (root only)."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    reason = _debian_root()
    if reason:
        pytest.skip(reason)
    result = apt_install(["chromium", "chromium-driver"], recommends=True)
    if result.returncode != 0:
        pytest.fail(f"apt-get install chromium chromium-driver failed: {result.stderr[-500:]}")


@pytest.fixture
def browser(chromium, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=900,700",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never runs (it would try to download).
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_for(driver, script: str, timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}")
