"""A user's clone of the workflow in miniature, and Snakemake's output read back.

A `WorkflowDir` is a temporary directory holding config/, workflow/, profiles/, the `slurm`
link and the tiny test config (tests/configs/tiny.yaml), passed with --configfile like a
user's city file; `snakemake()` runs Snakemake inside it, bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "tests" / "configs" / "tiny.yaml"
TINY_STUDY = REPO / "tests" / "configs" / "tiny_study.yaml"  # merged into TINY_CONFIG
COPIED = ["config", "workflow", "profiles"]
RUN_TIMEOUT_S = 600


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
