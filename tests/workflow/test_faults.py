"""Faults survived, nothing lost (issue 12, point 7).

Killed runs: the tiny workflow is killed with SIGKILL, Snakemake and every job it started at
once (its whole process group, as on a node failure), at four points of one run: during
tiling, covariates, training (mid-epoch, after a checkpoint) and figures. After each kill the
exact same command is run again, and the last one must complete; its outputs must equal
those of the uninterrupted run of the session (`tiny_run`, same config and seed): labels,
covariate tables, GeoJSON columns and values, and the same files under results/ (nothing
lost, no temporary file left behind).

Refused writes: an output the machine cannot store (a read-only folder; a write refused in
mid-file, as on a full disk) stops the run with one clear message naming the file and
the fix, and leaves no partial file.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from tests.harness.tiny_runs import TinyRun
from tests.harness.workflow_dir import RUN_TIMEOUT_S, WorkflowDir, kill_group, new_workflow_dir

pytestmark = pytest.mark.slow

POLL_S = 0.02  # how often the file system is looked at while waiting for a kill point


@dataclass(frozen=True)
class KillPoint:
    """A point of the run where it is killed.

    ``started``: a glob (relative to the run's folder) of files that appear once the stage
    is at work; the kill comes as soon as a new one appears. ``outputs``: a glob of the
    stage's final outputs (files of the reference run), not all written yet when it lands.
    """

    stage: str
    started: str
    outputs: str


KILL_POINTS = (
    # a scene's tiling job has started logging (scripts log from their first line)
    KillPoint("tiling", "logs/tiles/*.log", "results/tiles/*"),
    KillPoint("covariates", "logs/covariates/*.log", "results/covariates/*"),
    # a checkpoint was written: training has made progress and is not finished
    KillPoint("training", "results/deepcluster/checkpoints/last.pt", "results/deepcluster/*"),
    KillPoint("figures", "logs/figures/*.log", "results/figures/*"),
)
# Checkpoint every 2 iterations (an epoch of the tiny run has 5) so that the training kill
# lands mid-epoch. Not a result setting (deepcluster settings with rerun=False are no
# rule param): the outputs must still equal those of the reference run, which uses the
# default (one checkpoint per epoch).
KILLED_RUN_CONFIG = {"deepcluster": {"checkpoints": 2}}


def files(root: Path, pattern: str = "results/**/*") -> set[str]:
    """Relative paths of the files under ``root`` matching ``pattern`` (hidden ones too)."""
    return {str(p.relative_to(root)) for p in root.glob(pattern) if p.is_file()}


def wait_for_a_kill_point(
    workdir: WorkflowDir, process: subprocess.Popen, points: list[KillPoint], output: Path
) -> KillPoint:
    """Poll until a new ``started`` file of one of ``points`` appears; fail if the run ends first."""
    before = {point: files(workdir.path, point.started) for point in points}
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        for point in points:
            if files(workdir.path, point.started) - before[point]:
                return point
        if process.poll() is not None or time.monotonic() > deadline:
            stages = ", ".join(point.stage for point in points)
            state = f"ended with {process.returncode}" if process.poll() is not None else "hung"
            raise AssertionError(
                f"the run {state} before any of {stages} started; its output:\n"
                f"{output.read_text()[-5000:]}"
            )
        time.sleep(POLL_S)


def kill_at_the_next_point(
    workdir: WorkflowDir, points: list[KillPoint], reference: Path, attempt: int
) -> KillPoint:
    """Run the workflow, SIGKILL its process group at the first of ``points`` it reaches."""
    output = workdir.path / f"killed-run-{attempt}.out"  # outside results/: not compared
    process = workdir.start(output=output)
    try:
        point = wait_for_a_kill_point(workdir, process, points, output)
    finally:
        status = kill_group(process)
    assert status == -signal.SIGKILL, f"not killed (status {status}):\n{output.read_text()}"
    stage_outputs = files(reference, point.outputs)
    assert stage_outputs, f"the reference run has no {point.outputs}"
    assert not stage_outputs <= files(workdir.path, point.outputs), (
        f"the kill came after {point.stage} had finished"
    )
    # What the rerun must get past: Snakemake's lock (its process never removed it) and the
    # incomplete markers of the jobs that were running.
    assert list((workdir.path / ".snakemake" / "locks").glob("*.lock")), "no lock left"
    assert list((workdir.path / ".snakemake" / "incomplete").iterdir()), "no job was running"
    return point


def assert_same_results(run: Path, reference: Path) -> None:
    """Labels, covariate tables, GeoJSON and the list of files equal the reference run's."""
    assert files(run) == files(reference)  # nothing lost, no temporary file left
    for table in [
        "results/clusters/labels.parquet",
        *sorted(files(reference, "results/covariates/*")),
    ]:
        pd.testing.assert_frame_equal(
            pd.read_parquet(run / table), pd.read_parquet(reference / table)
        )
    geojson = "results/cluster_shapefile.geojson"
    killed, uninterrupted = gpd.read_file(run / geojson), gpd.read_file(reference / geojson)
    assert list(killed.columns) == list(uninterrupted.columns)
    pd.testing.assert_frame_equal(killed, uninterrupted)  # every column, geometry included


def test_a_run_killed_at_every_stage_completes_with_the_same_results(
    tiny_run: TinyRun, tmp_path: Path
):
    reference = tiny_run.workdir.path
    workdir = new_workflow_dir(tmp_path / "clone", KILLED_RUN_CONFIG)
    remaining, killed_at = list(KILL_POINTS), []
    while remaining:  # in the order the run reaches them (the scheduler's)
        point = kill_at_the_next_point(workdir, remaining, reference, len(killed_at) + 1)
        remaining.remove(point)
        killed_at.append(point.stage)
    workdir.snakemake()  # the same command, to the end
    assert sorted(killed_at) == sorted(point.stage for point in KILL_POINTS)
    training_log = (workdir.path / "logs/deepcluster/train_deepcluster.log").read_text()
    assert "resumed from checkpoint" in training_log, training_log[-3000:]
    assert_same_results(workdir.path, reference)
    assert workdir.planned_jobs() == Counter()  # and Snakemake agrees that nothing is left


# --- outputs the machine refuses ----------------------------------------------------------


def check_one_clear_message(log: Path, *expected: str) -> None:
    """One error line in a job's log, holding every ``expected`` part; no traceback.

    Snakemake removes a job's old log before it runs, so the log is that of the failed job.
    """
    lines = log.read_text().splitlines()
    assert not [line for line in lines if "Traceback" in line], "\n".join(lines)
    errors = [line for line in lines if "ERROR" in line]
    assert len(errors) == 1, "\n".join(lines)
    for part in expected:
        assert part in errors[0], errors[0]


def temporary_files(folder: Path) -> list[str]:
    """Names of atomic_path's temporary files (.<name>.<random>.tmp<suffix>) in ``folder``."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]


def user_namespace_prefix() -> list[str] | None:
    """A command prefix that runs a program without root's power over permissions, or None.

    As root, permissions are not enforced; in a user namespace of its own (`unshare
    --user`) the same uid is an unprivileged user to the kernel, so a read-only folder is
    read-only again. None when user namespaces are not available.
    """
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "--user", "true"], capture_output=True, check=False)
    return [unshare, "--user"] if probe.returncode == 0 else None


def test_a_read_only_results_folder_stops_with_one_clear_message(completed_run: WorkflowDir):
    prefix = user_namespace_prefix()
    if prefix is None:
        pytest.skip("running as root, which ignores permissions, and no user namespace to drop it")
    figures = completed_run.path / "results/figures"
    for ext in ("png", "pdf"):
        (figures / f"cluster_map.{ext}").unlink()  # to be redrawn into a read-only folder
    figures.chmod(0o555)
    try:
        result = subprocess.run(
            [*prefix, *completed_run.command("results/figures/cluster_map.png")],
            cwd=completed_run.path,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        figures.chmod(0o755)
    assert result.returncode != 0, result.stderr[-3000:]
    check_one_clear_message(
        completed_run.path / "logs/figures/plot_cluster_map.log",
        "satcluster: error: cannot write results/figures/cluster_map.png: Permission denied",
        "check that the folder is writable and the disk is not full",
    )
    assert temporary_files(figures) == []
    assert not (figures / "cluster_map.png").exists()


FILE_SIZE_LIMIT = 256 * 2**10  # bytes: tiles.npy (1.6 MB) exceeds it, Snakemake's files do not


def limit_file_size() -> None:
    """In the child, before exec: the kernel refuses writes past FILE_SIZE_LIMIT (EFBIG).

    Stands in for a disk that fills during a write (ENOSPC: the same failed write(2) in
    mid-file) and works as root, which a full disk or a read-only folder do not; Python
    ignores SIGXFSZ, so the write fails with an error instead of killing the process.
    """
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def test_a_write_refused_mid_file_stops_with_one_clear_message(completed_run: WorkflowDir):
    tiles = completed_run.path / "results/tiles"
    result = subprocess.run(
        completed_run.command("--forcerun", "gather_tiles", "results/tiles/tiles.npy"),
        cwd=completed_run.path,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=limit_file_size,
    )
    assert result.returncode != 0, result.stderr[-3000:]
    # The write that failed does not say which file: both outputs being written are named.
    check_one_clear_message(
        completed_run.path / "logs/tiles/gather_tiles.log",
        "satcluster: error: cannot write results/tiles/tiles.npy",
        "File too large; check that the folder is writable and the disk is not full",
    )
    assert temporary_files(tiles) == []
    # Snakemake removed the forced job's old outputs; nothing half-written took their place.
    assert not (tiles / "tiles.npy").exists() and not (tiles / "index.parquet").exists()
