"""The tiny workflow through a real SLURM, as users run it: `--profile slurm`.

A single-node cluster with three fake GPUs (tests/slurm_cluster.py) runs the workflow with
the project's profile plus the local-cluster overrides below, from a temporary clone:
    snakemake --cores all --profile slurm --profile local-slurm --configfile tiny.yaml
with `deepcluster.gpus: 3`. While it runs, the test records what SLURM allocated to the
training job, and cancels that job (as a preemption or time limit would) once it has
written a checkpoint; the profile's `retries` resubmit it and it must resume from there.
Skipped, with the reason, where SLURM cannot run (not root, not Debian).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import yaml
from conftest import TinyRun, WorkflowDir, new_workflow_dir
from slurm_cluster import SlurmCluster, SlurmUnavailable, start_cluster

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

TRAINING_RULE = "train_deepcluster"
RUN_TIMEOUT_S = 540
# Settings only this accounting-less test cluster needs; real clusters keep the defaults.
LOCAL_OVERRIDES = {
    "slurm-status-command": "squeue",  # sacct exists but fails without accounting
    "slurm-no-account": True,  # nothing to guess an account from
    "slurm-init-seconds-before-status-checks": 1,  # poll early (the plugin adds 10 s per idle poll)
    "seconds-between-status-checks": 1,
    "slurm-keep-successful-logs": True,  # SLURM's job logs, read below
    "latency-wait": 5,
    "jobs": 12,  # all figure jobs at once, yet a sane load on a 2-core machine
}
# Training long enough to be caught after its first checkpoint (every 2 iterations).
SLURM_CONFIG = {"deepcluster": {"gpus": 3, "epochs": 3, "features_epoch": 3, "checkpoints": 2}}
SUBMITTED = re.compile(
    r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/"
)


@dataclass
class SlurmRun:
    """What a SLURM run of the workflow left: its clone, exit status, log and job records."""

    workdir: WorkflowDir
    returncode: int
    log: str
    expected_jobs: Counter
    training_job: str = ""
    training_scontrol: str = ""
    cancelled: bool = False
    finished: list[dict[str, str]] = field(default_factory=list)

    def submissions(self) -> list[tuple[str, str]]:
        """(rule, SLURM job id) for every job Snakemake submitted."""
        return [(rule, slurm_id) for _, slurm_id, rule in SUBMITTED.findall(self.log)]


@pytest.fixture(scope="module")
def cluster() -> SlurmCluster:
    try:
        running = start_cluster()
    except SlurmUnavailable as err:
        pytest.skip(f"no local SLURM cluster: {err}")
    yield running
    running.stop()


def squeue_jobs(cluster: SlurmCluster) -> list[tuple[str, str, str]]:
    """(job id, comment, state) of the jobs SLURM holds; Snakemake's comment names the rule."""
    result = cluster.run("squeue", "-h", "-t", "all", "-o", "%i|%k|%T")
    return [tuple(line.split("|", 2)) for line in result.stdout.splitlines() if "|" in line]


def cancel_training_after_checkpoint(
    cluster: SlurmCluster, run: SlurmRun, process: subprocess.Popen
) -> None:
    """Record the running training job's allocation, then scancel it after its checkpoint."""
    checkpoint = run.workdir.path / "results/deepcluster/checkpoints/last.pt"
    while process.poll() is None:
        running = [
            job_id
            for job_id, comment, state in squeue_jobs(cluster)
            if TRAINING_RULE in comment and state == "RUNNING"
        ]
        if running and not run.training_job:
            run.training_job = running[0]
            run.training_scontrol = cluster.run("scontrol", "show", "job", running[0]).stdout
        if running and checkpoint.is_file():
            cluster.run("scancel", running[0])
            run.cancelled = True
            return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def slurm_run(cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> SlurmRun:
    workdir = new_workflow_dir(tmp_path_factory.mktemp("slurm_run") / "clone", SLURM_CONFIG)
    (workdir.path / "local-slurm").mkdir()
    (workdir.path / "local-slurm" / "config.yaml").write_text(yaml.safe_dump(LOCAL_OVERRIDES))
    run = SlurmRun(workdir, -1, "", workdir.planned_jobs("--forceall"))
    log_path = workdir.path / "snakemake-slurm.log"
    command = [
        "timeout", "-s", "INT", "-k", "60", str(RUN_TIMEOUT_S),
        sys.executable, "-m", "snakemake", "--cores", "all",
        "--profile", "slurm", "--profile", "local-slurm", "--configfile=tiny.yaml",
    ]  # fmt: skip
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            command, cwd=workdir.path, env=cluster.env(), stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            cancel_training_after_checkpoint(cluster, run, process)
            run.returncode = process.wait(timeout=RUN_TIMEOUT_S + 90)
        finally:
            if process.poll() is None:
                process.kill()
    run.log = log_path.read_text()
    time.sleep(1)  # jobcomp records are written as jobs end
    run.finished = cluster.finished_jobs()
    return run


def test_workflow_completes_under_slurm(slurm_run: SlurmRun):
    assert slurm_run.returncode == 0, slurm_run.log[-8000:]
    assert "Using profiles slurm and local-slurm" in slurm_run.log


def test_every_rule_ran_as_its_own_slurm_job(slurm_run: SlurmRun):
    submissions = slurm_run.submissions()
    slurm_ids = [slurm_id for _, slurm_id in submissions]
    assert len(set(slurm_ids)) == len(slurm_ids)
    per_rule = Counter(rule for rule, _ in submissions)
    expected = slurm_run.expected_jobs + Counter({TRAINING_RULE: 1})  # + the retried job
    assert per_rule == expected
    # SLURM's own record of each job (sacct needs accounting; jobcomp writes a text file).
    states = {record["JobId"]: record["JobState"] for record in slurm_run.finished}
    assert set(slurm_ids) <= set(states)
    cancelled = {slurm_run.training_job}
    assert all(states[i] == "COMPLETED" for i in slurm_ids if i not in cancelled), states
    assert states[slurm_run.training_job] == "CANCELLED"


def test_training_job_got_three_gpus_on_one_node(slurm_run: SlurmRun):
    scontrol = slurm_run.training_scontrol
    assert re.search(r"TresPerJob=gres[:/]gpu:3\b", scontrol), scontrol
    assert re.search(r"NumNodes=1\b", scontrol), scontrol
    # No tasks on a GPU job (--ntasks-per-gpu): one script, one process per GPU of its own.
    assert not re.search(r"NtasksPerTRES:[1-9]", scontrol), scontrol
    training_log = (slurm_run.workdir.path / "logs/deepcluster/train_deepcluster.log").read_text()
    assert re.search(r"CUDA_VISIBLE_DEVICES\W+0,1,2\b", training_log), training_log[:3000]
    assert re.search(r"SLURM_GPUS_ON_NODE\W+3\b", training_log), training_log[:3000]


def test_cancelled_training_resumes_from_its_checkpoint(slurm_run: SlurmRun):
    assert slurm_run.cancelled, "training ended before its first checkpoint could be cancelled"
    assert "Trying to restart job" in slurm_run.log
    training_log = (slurm_run.workdir.path / "logs/deepcluster/train_deepcluster.log").read_text()
    assert "resumed from checkpoint" in training_log, training_log[-3000:]
    epochs = SLURM_CONFIG["deepcluster"]["epochs"]
    log_table = pd.read_csv(slurm_run.workdir.path / "results/deepcluster/training_log.csv")
    assert sorted(log_table["epoch"]) == list(range(1, epochs + 1))


def test_results_have_the_local_runs_structure(slurm_run: SlurmRun, tiny_run: TinyRun):
    def files(root: Path) -> set[str]:
        results = root / "results"
        return {
            str(p.relative_to(results))
            for p in results.rglob("*")
            if p.is_file() and "checkpoints" not in p.parts
        }

    assert files(slurm_run.workdir.path) == files(tiny_run.workdir.path)
    slurm = gpd.read_file(slurm_run.workdir.path / "results/cluster_shapefile.geojson")
    local = gpd.read_file(tiny_run.workdir.path / "results/cluster_shapefile.geojson")
    assert list(slurm.columns) == list(local.columns)
    assert slurm["tile_id"].tolist() == local["tile_id"].tolist()
    assert slurm.crs == local.crs
