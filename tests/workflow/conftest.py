"""The workflow copies the tests run Snakemake in.

`workflow_dir` is a fresh, never-run copy of the workflow with the tiny config
(tests/configs/tiny.yaml); the session fixtures `tiny_run` and `tiny_study_run` run the
whole tiny workflow, and the tiny study, once for every pytest-xdist worker; rerun and
fault tests work on private copies of them (`completed_run`, `completed_study`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.harness.tiny_runs import TinyRun, run_once, tiny_study_overrides
from tests.harness.workflow_dir import WorkflowDir, new_workflow_dir


@pytest.fixture
def workflow_dir(tmp_path: Path) -> WorkflowDir:
    """A fresh, never-run copy of the workflow with the tiny config."""
    return new_workflow_dir(tmp_path / "clone")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    """The whole tiny workflow run once locally (`snakemake --cores 2`), shared by tests."""
    return run_once(tmp_path_factory, "tiny_run", None)


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
