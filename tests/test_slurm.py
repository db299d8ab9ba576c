"""The tiny workflow through a real SLURM, as users run it: `--profile slurm`.

A single-node cluster with three fake GPUs (tests/slurm_cluster.py) runs the workflow with
the project's profile plus the local-cluster overrides below, from a temporary clone:
    snakemake --cores all --profile slurm --profile local-slurm --configfile tiny.yaml
with `deepcluster.gpus: 3`. While it runs, the test records what SLURM allocated to the
training job, and cancels that job (as a preemption or time limit would) once it has
written a checkpoint; the profile's `retries` resubmit it and it must resume from there.
A second run, a study of one city, one scale and two seeds (`deepcluster.seeds: [31, 32]`
with `gpus: 1`, same profile and overrides), checks that each seed trains in its own
one-GPU job, that the two jobs run at the same time on the node's three GPUs, and that the
seeds are compared (results/comparison/seed_agreement.csv).
Skipped, with the reason, where SLURM cannot run (not root, not Debian).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
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
# A study of one city and one scale: one training job per seed, one GPU each, so that both
# fit on the node's three GPUs at once.
STUDY_SEEDS = [31, 32]
STUDY_CONFIG = {"deepcluster": {"seeds": STUDY_SEEDS, "gpus": 1}}
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
    # The study run: `scontrol show job` of every training job, recorded while it ran, and
    # the most training jobs squeue showed RUNNING at one moment.
    training_jobs: dict[str, str] = field(default_factory=dict)
    running_together: list[str] = field(default_factory=list)

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


def record_training_jobs(cluster: SlurmCluster, run: SlurmRun, process: subprocess.Popen) -> None:
    """Record every training job's allocation and which of them ran at the same moment."""
    expected = run.expected_jobs[TRAINING_RULE]
    while process.poll() is None:
        running = [
            job_id
            for job_id, comment, state in squeue_jobs(cluster)
            if TRAINING_RULE in comment and state == "RUNNING"
        ]
        for job_id in running:
            if job_id not in run.training_jobs:
                run.training_jobs[job_id] = cluster.run("scontrol", "show", "job", job_id).stdout
        if len(running) > len(run.running_together):
            run.running_together = running
        if len(run.training_jobs) >= expected and not running:
            return  # every training job has run; the rest is not watched
        time.sleep(0.2)


Watcher = Callable[[SlurmCluster, SlurmRun, subprocess.Popen], None]


def run_under_slurm(cluster: SlurmCluster, dest: Path, overrides: dict, watch: Watcher) -> SlurmRun:
    """Run the tiny workflow (plus overrides) in a clone at dest with the slurm profile and
    LOCAL_OVERRIDES; `watch` polls the cluster while Snakemake runs."""
    workdir = new_workflow_dir(dest, overrides)
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
            watch(cluster, run, process)
            run.returncode = process.wait(timeout=RUN_TIMEOUT_S + 90)
        finally:
            if process.poll() is None:
                process.kill()
    run.log = log_path.read_text()
    time.sleep(1)  # jobcomp records are written as jobs end
    run.finished = cluster.finished_jobs()
    return run


@pytest.fixture(scope="module")
def slurm_run(cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> SlurmRun:
    dest = tmp_path_factory.mktemp("slurm_run") / "clone"
    return run_under_slurm(cluster, dest, SLURM_CONFIG, cancel_training_after_checkpoint)


@pytest.fixture(scope="module")
def slurm_study_run(cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> SlurmRun:
    dest = tmp_path_factory.mktemp("slurm_study") / "clone"
    return run_under_slurm(cluster, dest, STUDY_CONFIG, record_training_jobs)


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


# --- the study: one city, one scale, two seeds ----------------------------------------------


def training_seed(scontrol: str) -> int:
    """The seed of a training job, from its comment (`rule_<rule>_wildcards_<scale>_<seed>`)."""
    match = re.search(rf"Comment=rule_{TRAINING_RULE}_wildcards_(\d+)_(-?\d+)\b", scontrol)
    assert match, scontrol
    return int(match.group(2))


def study_training_log(run: SlurmRun, seed: int) -> str:
    scale = run.workdir.read_config()["tiles"]["size_px"]
    path = f"logs/pooled/{scale}px/seed{seed}/deepcluster/train_deepcluster.log"
    return (run.workdir.path / path).read_text()


def test_study_completes_under_slurm(slurm_study_run: SlurmRun):
    run = slurm_study_run
    assert run.returncode == 0, run.log[-8000:]
    assert "Using profiles slurm and local-slurm" in run.log
    assert run.expected_jobs[TRAINING_RULE] == len(STUDY_SEEDS)
    assert Counter(rule for rule, _ in run.submissions()) == run.expected_jobs
    states = {record["JobId"]: record["JobState"] for record in run.finished}
    assert all(states.get(i) == "COMPLETED" for _, i in run.submissions()), states
    results = run.workdir.path / "results"
    scale = run.workdir.read_config()["tiles"]["size_px"]
    assert (results / "city" / f"{scale}px" / "cluster_shapefile.geojson").is_file()
    for seed in STUDY_SEEDS:
        model = results / "pooled" / f"{scale}px" / f"seed{seed}"
        assert (model / "deepcluster" / "model.pt").is_file(), seed
        assert (model / "clusters" / "city_labels.parquet").is_file(), seed


def test_each_seed_trained_in_its_own_one_gpu_job(slurm_study_run: SlurmRun):
    run = slurm_study_run
    submitted = sorted(i for rule, i in run.submissions() if rule == TRAINING_RULE)
    assert sorted(run.training_jobs) == submitted, run.training_jobs.keys()
    seeds = {job_id: training_seed(scontrol) for job_id, scontrol in run.training_jobs.items()}
    assert sorted(seeds.values()) == STUDY_SEEDS
    for scontrol in run.training_jobs.values():
        assert re.search(r"TresPerJob=gres[:/]gpu:1\b", scontrol), scontrol
        assert re.search(r"NumNodes=1\b", scontrol), scontrol
        assert not re.search(r"NtasksPerTRES:[1-9]", scontrol), scontrol
    devices = []
    for seed in STUDY_SEEDS:
        training_log = study_training_log(run, seed)
        assert re.search(r"SLURM_GPUS_ON_NODE\W+1\b", training_log), training_log[:3000]
        device = re.search(r"CUDA_VISIBLE_DEVICES\W+(\d+)\s", training_log)
        assert device, training_log[:3000]
        devices.append(device.group(1))
    assert len(set(devices)) == len(STUDY_SEEDS), devices  # each its own GPU


def test_the_two_training_jobs_ran_at_the_same_time(slurm_study_run: SlurmRun):
    run = slurm_study_run
    assert sorted(run.running_together) == sorted(run.training_jobs), (
        f"squeue never showed every training job RUNNING at once: {run.running_together}"
    )
    # SLURM's own record agrees: the jobs' [StartTime, EndTime] (whole seconds) overlap.
    records = {r["JobId"]: r for r in run.finished if r["JobId"] in run.training_jobs}
    assert sorted(records) == sorted(run.training_jobs)
    latest_start = max(r["StartTime"] for r in records.values())
    earliest_end = min(r["EndTime"] for r in records.values())
    assert latest_start < earliest_end, records  # ISO times compare as text


def test_the_study_compares_the_two_seeds(slurm_study_run: SlurmRun):
    run = slurm_study_run
    config = run.workdir.read_config()
    table = pd.read_csv(run.workdir.path / "results/comparison/seed_agreement.csv")
    assert list(table.columns) == ["scale", "k", "seed_a", "seed_b", "nmi", "ari"]
    assert sorted(table["k"]) == sorted(config["clusters"]["ks"])  # one row per k
    assert (table["scale"] == config["tiles"]["size_px"]).all()
    pairs = set(zip(table["seed_a"], table["seed_b"], strict=True))
    assert pairs == {tuple(STUDY_SEEDS)}, pairs
    assert table["nmi"].between(0, 1).all()
