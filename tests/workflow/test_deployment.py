"""Deployed as catalog workflows are: a wheel in a fresh environment, and a Snakemake module
in a user's own project (snakedeploy's layout), with nothing written into the workflow's clone.

The wheel is built from a copy of the sources (a build writes build/ and *.egg-info beside
them) and installed, not editable, into a fresh virtual environment. Its dependencies come
from the test environment through a .pth file appended to the new environment's path:
installing torch and GDAL wheels again would take minutes and gigabytes, and the point here
is that *satcluster itself* is complete as a wheel. The module run then uses that
environment's Python, so every rule imports the installed wheel, not src/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.harness.workflow_dir import REPO, TINY_CONFIG, copy_workflow

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.slow

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
SOURCES = ["pyproject.toml", "README.md", "src"]
# What snakedeploy writes: a Snakefile that imports the workflow as a module, and config/.
USER_SNAKEFILE = """\
configfile: "config/config.yaml"


module satcluster:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from satcluster
"""


@dataclass
class WheelEnv:
    """A fresh virtual environment with the satcluster wheel installed."""

    wheel: Path
    python: Path

    def run(self, *args: str, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no src/ on the path
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}"
        result = subprocess.run(
            [str(self.python), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, (
            f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
        return result


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> WheelEnv:
    root = tmp_path_factory.mktemp("wheel")
    sources = root / "sources"
    sources.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name,
                sources / name,
                ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
            )
        else:
            shutil.copy2(REPO / name, sources / name)
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=sources,
        capture_output=True,
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("satcluster-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # the way the rules' conda environment installs it: by name and version, found in dist/
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
         "--find-links", str(dist), f"satcluster=={VERSION}"],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # appended after the environment's own site-packages: the wheel's satcluster comes first
    # (the test environment's editable install is a finder in a .pth file, not processed here)
    Path(site, "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return WheelEnv(wheel, python)


def test_wheel_carries_everything_used_at_run_time(wheel_env: WheelEnv):
    names = set(zipfile.ZipFile(wheel_env.wheel).namelist())
    for needed in [
        "satcluster/__main__.py",
        "satcluster/deepcluster/__main__.py",
        "satcluster/figures/assets/web_map.js",
        "satcluster/figures/assets/web_map.css",
    ]:
        assert needed in names, f"{needed} is missing from {wheel_env.wheel.name}"
    assert wheel_env.wheel.name.startswith(f"satcluster-{VERSION}-")


def test_installed_wheel_runs_without_the_sources(wheel_env: WheelEnv, tmp_path: Path):
    where = wheel_env.run("-c", "import satcluster; print(satcluster.__file__)", cwd=tmp_path)
    assert str(wheel_env.python.parents[1]) in where.stdout, "satcluster came from elsewhere"
    assert wheel_env.run("-m", "satcluster", "--version", cwd=tmp_path).stdout.strip() == (
        f"satcluster {VERSION}"
    )
    usage = wheel_env.run("-m", "satcluster.deepcluster", "--help", cwd=tmp_path).stdout
    assert "--nmb_cluster" in usage and "--resume" in usage


def tree(folder: Path) -> dict[str, int]:
    """Relative path -> mtime (ns) of every file and folder under ``folder``."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_module_in_a_users_project_writes_only_there(wheel_env: WheelEnv, tmp_path: Path):
    """snakedeploy's layout, run with the installed wheel: outputs in the project, none in the clone."""
    clone = copy_workflow(tmp_path / "clone")
    project = tmp_path / "my-city"
    (project / "workflow").mkdir(parents=True)
    # relative, as lint asks (snakedeploy writes github(<repo>, path=..., tag=...) instead)
    snakefile = os.path.relpath(clone / "workflow" / "Snakefile", project / "workflow")
    (project / "workflow" / "Snakefile").write_text(USER_SNAKEFILE.format(snakefile=snakefile))
    shutil.copytree(clone / "config", project / "config")
    shutil.copyfile(TINY_CONFIG, project / "config" / "tiny.yaml")
    before = tree(clone)

    snakemake = ["-m", "snakemake", "--cores", "2", "--configfile", "config/tiny.yaml"]
    wheel_env.run(*snakemake, "--lint", cwd=project, timeout=300)
    wheel_env.run(*snakemake, cwd=project, timeout=900)
    wheel_env.run(*snakemake, "--report", "report.zip", cwd=project, timeout=300)
    planned = wheel_env.run(
        *snakemake, "-n", "--profile", str(clone / "profiles" / "slurm"), cwd=project
    )

    results = project / "results"
    for output in ["cluster_shapefile.geojson", "map.html", "figures/cluster_map.png"]:
        assert (results / output).is_file(), f"{output} is missing under the user's project"
    report = zipfile.ZipFile(project / "report.zip")
    pages = [
        report.read(n).decode(errors="replace") for n in report.namelist() if n.endswith(".html")
    ]
    assert any(f"satcluster {VERSION}" in page for page in pages), "no version in the report"
    assert "Nothing to be done" in planned.stdout + planned.stderr  # the profile works there
    assert tree(clone) == before, "the run wrote into the workflow's clone"


def test_changelog_has_the_version_and_the_catalog_file_the_usage():
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"\n## {VERSION} " in changelog, f"CHANGELOG.md has no heading for {VERSION}"
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert catalog["report"] is True
    assert "--cores" in catalog["mandatory-flags"]["flags"]
