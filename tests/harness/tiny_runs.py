"""The tiny workflow (or the tiny study) run to the end once per test session.

The session fixtures of tests/workflow/conftest.py call `run_once`: every pytest-xdist
worker asks for the same run, one of them runs it, the others read its record.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

from tests.harness.workflow_dir import TINY_STUDY, WorkflowDir, new_workflow_dir


@dataclass
class TinyRun:
    """The tiny workflow, run once to the end; seconds is its wall time."""

    workdir: WorkflowDir
    seconds: float
    log: str


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


def tiny_study_overrides() -> dict:
    """The study keys merged into the tiny config: two cities, two scales, two seeds."""
    return yaml.safe_load(TINY_STUDY.read_text())
