"""The tiny workflow through a real SLURM, as users run it: `--profile slurm`.

A single-node cluster with six fake GPUs (tests/harness/slurm_cluster.py) runs a study of the tiny
city (one city, one scale, two seeds, `deepcluster.gpus: 3`) with the project's profile
plus the local-cluster overrides below, from a temporary clone:
    snakemake --cores all --profile slurm --profile local-slurm --configfile tiny.yaml
One run checks what users rely on: every rule is its own SLURM job; each seed trains in a
job of its own with three GPUs on one node, and the two training jobs run at the same time
on disjoint GPUs; one training job is cancelled (as a preemption or a time limit would)
once it has written a checkpoint, and the profile's `retries` resubmit it to resume from
there; the seeds are compared (results/comparison/seed_agreement.csv); the city's GeoJSON
is that of a local run. (One run, not a single-city run and a study: each SLURM job
re-parses the workflow, so a run costs minutes on two cores.)
Skipped, with the reason, where SLURM cannot run (not root, not Debian).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import yaml

from tests.harness.slurm_cluster import SlurmCluster, SlurmUnavailable, start_cluster
from tests.harness.tiny_runs import TinyRun
from tests.harness.workflow_dir import WorkflowDir, new_workflow_dir

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

TRAINING_RULE = "train_deepcluster"
RUN_TIMEOUT_S = 720  # the run takes 6-8 minutes on 2 cores
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
# Two seeds of three GPUs each: both training jobs fit on the node's six GPUs at once, and
# train long enough to be caught after a first checkpoint (every 2 iterations).
SEEDS = [31, 32]
GPUS = 3
SLURM_CONFIG = {
    "deepcluster": {
        "seeds": SEEDS, "gpus": GPUS, "epochs": 3, "features_epoch": 3, "checkpoints": 2,
    }
}  # fmt: skip
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
    finished: list[dict[str, str]] = field(default_factory=list)
    # Recorded while it ran: `scontrol -d show job` of every training job (the resubmitted
    # one included), the most training jobs squeue showed RUNNING at one moment, and the
    # job cancelled after its checkpoint.
    training_jobs: dict[str, str] = field(default_factory=dict)
    running_together: list[str] = field(default_factory=list)
    cancelled_job: str = ""

    def submissions(self) -> list[tuple[str, str]]:
        """(rule, SLURM job id) for every job Snakemake submitted."""
        return [(rule, slurm_id) for _, slurm_id, rule in SUBMITTED.findall(self.log)]

    @cached_property
    def scale(self) -> int:
        """The run's one tile size (read once: the watcher asks on every poll)."""
        return self.workdir.read_config()["tiles"]["size_px"]

    def model_dir(self, seed: int) -> Path:
        return self.workdir.path / f"results/pooled/{self.scale}px/seed{seed}"

    def training_log(self, seed: int) -> str:
        path = f"logs/pooled/{self.scale}px/seed{seed}/deepcluster/train_deepcluster.log"
        return (self.workdir.path / path).read_text()


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


def training_seed(scontrol: str) -> int:
    """The seed of a training job, from its comment (`rule_<rule>_wildcards_<scale>_<seed>`)."""
    match = re.search(rf"Comment=rule_{TRAINING_RULE}_wildcards_(\d+)_(-?\d+)\b", scontrol)
    assert match, scontrol
    return int(match.group(2))


def gpu_indices(scontrol: str) -> set[int]:
    """The GPUs SLURM gave a job, from `scontrol -d show job` (`GRES=gpu:3(IDX:0-2)`)."""
    match = re.search(r"GRES=gpu[^(\s]*\(IDX:([\d,-]+)\)", scontrol)
    assert match, scontrol
    indices = set()
    for part in match.group(1).split(","):
        first, _, last = part.partition("-")
        indices.update(range(int(first), int(last or first) + 1))
    return indices


def watch_training(cluster: SlurmCluster, run: SlurmRun, process: subprocess.Popen) -> None:
    """Record every training job's allocation and which of them ran at one moment; scancel
    the first one to write a checkpoint, once."""
    while process.poll() is None:
        running = [
            job_id
            for job_id, comment, state in squeue_jobs(cluster)
            if TRAINING_RULE in comment and state == "RUNNING"
        ]
        for job_id in running:
            if job_id not in run.training_jobs:
                shown = cluster.run("scontrol", "-d", "show", "job", job_id).stdout
                run.training_jobs[job_id] = shown
        if len(running) > len(run.running_together):
            run.running_together = running
        if not run.cancelled_job:
            for job_id in running:
                seed = training_seed(run.training_jobs[job_id])
                if (run.model_dir(seed) / "deepcluster/checkpoints/last.pt").is_file():
                    cluster.run("scancel", job_id)
                    run.cancelled_job = job_id
                    break
        if run.cancelled_job and len(run.training_jobs) > len(SEEDS) and not running:
            return  # every training job and the resubmitted one have run
        time.sleep(0.2)


def run_under_slurm(cluster: SlurmCluster, dest: Path) -> SlurmRun:
    """Run the tiny workflow with SLURM_CONFIG in a clone at dest with the slurm profile and
    LOCAL_OVERRIDES; `watch_training` polls the cluster while Snakemake runs."""
    workdir = new_workflow_dir(dest, SLURM_CONFIG)
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
            watch_training(cluster, run, process)
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
    return run_under_slurm(cluster, dest)


def test_study_completes_under_slurm(slurm_run: SlurmRun):
    assert slurm_run.returncode == 0, slurm_run.log[-8000:]
    assert "Using profiles slurm and local-slurm" in slurm_run.log
    assert slurm_run.expected_jobs[TRAINING_RULE] == len(SEEDS)
    scale = slurm_run.scale
    assert (slurm_run.workdir.path / f"results/city/{scale}px/cluster_shapefile.geojson").is_file()
    for seed in SEEDS:
        assert (slurm_run.model_dir(seed) / "deepcluster/model.pt").is_file(), seed
        assert (slurm_run.model_dir(seed) / "clusters/city_labels.parquet").is_file(), seed


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
    cancelled = {slurm_run.cancelled_job}
    assert all(states[i] == "COMPLETED" for i in slurm_ids if i not in cancelled), states
    assert states[slurm_run.cancelled_job] == "CANCELLED"


def test_each_seed_trained_in_its_own_job_with_three_gpus_on_one_node(slurm_run: SlurmRun):
    submitted = sorted(i for rule, i in slurm_run.submissions() if rule == TRAINING_RULE)
    assert sorted(slurm_run.training_jobs) == submitted, slurm_run.training_jobs.keys()
    seeds = Counter(training_seed(shown) for shown in slurm_run.training_jobs.values())
    assert sorted(seeds) == SEEDS and sum(seeds.values()) == len(SEEDS) + 1  # + the retry
    for shown in slurm_run.training_jobs.values():
        assert re.search(rf"TresPerJob=gres[:/]gpu:{GPUS}\b", shown), shown
        assert re.search(r"NumNodes=1\b", shown), shown
        # No tasks on a GPU job (--ntasks-per-gpu): one script, one process per GPU of its own.
        assert not re.search(r"NtasksPerTRES:[1-9]", shown), shown
        assert len(gpu_indices(shown)) == GPUS, shown
    for seed in SEEDS:  # the job's own view (the last attempt's log)
        training_log = slurm_run.training_log(seed)
        assert re.search(rf"SLURM_GPUS_ON_NODE\W+{GPUS}\b", training_log), training_log[:3000]
        assert re.search(r"CUDA_VISIBLE_DEVICES\W+\d+,\d+,\d+\s", training_log), training_log[:3000]


def test_the_two_training_jobs_ran_at_the_same_time_on_their_own_gpus(slurm_run: SlurmRun):
    together = slurm_run.running_together
    assert len(together) == len(SEEDS), f"squeue never showed both seeds RUNNING: {together}"
    shown = [slurm_run.training_jobs[job_id] for job_id in together]
    assert sorted(training_seed(s) for s in shown) == SEEDS
    first, second = (gpu_indices(s) for s in shown)
    assert not first & second, shown
    # SLURM's own record agrees: the jobs' [StartTime, EndTime] (whole seconds) overlap.
    records = [r for r in slurm_run.finished if r["JobId"] in together]
    assert len(records) == len(together), slurm_run.finished
    latest_start = max(r["StartTime"] for r in records)
    earliest_end = min(r["EndTime"] for r in records)
    assert latest_start < earliest_end, records  # ISO times compare as text


def test_cancelled_training_resumes_from_its_checkpoint(slurm_run: SlurmRun):
    assert slurm_run.cancelled_job, "training ended before its first checkpoint could be cancelled"
    assert "Trying to restart job" in slurm_run.log
    seed = training_seed(slurm_run.training_jobs[slurm_run.cancelled_job])
    training_log = slurm_run.training_log(seed)
    assert "resumed from checkpoint" in training_log, training_log[-3000:]
    epochs = SLURM_CONFIG["deepcluster"]["epochs"]
    log_table = pd.read_csv(slurm_run.model_dir(seed) / "deepcluster/training_log.csv")
    assert sorted(log_table["epoch"]) == list(range(1, epochs + 1))


def test_the_study_compares_the_two_seeds(slurm_run: SlurmRun):
    config = slurm_run.workdir.read_config()
    table = pd.read_csv(slurm_run.workdir.path / "results/comparison/seed_agreement.csv")
    assert list(table.columns) == ["scale", "k", "seed_a", "seed_b", "nmi", "ari"]
    assert sorted(table["k"]) == sorted(config["clusters"]["ks"])  # one row per k
    assert (table["scale"] == config["tiles"]["size_px"]).all()
    pairs = set(zip(table["seed_a"], table["seed_b"], strict=True))
    assert pairs == {tuple(SEEDS)}, pairs
    assert table["nmi"].between(0, 1).all()


def test_the_citys_geojson_is_that_of_a_local_run(slurm_run: SlurmRun, tiny_run: TinyRun):
    scale = slurm_run.scale
    slurm = gpd.read_file(
        slurm_run.workdir.path / f"results/city/{scale}px/cluster_shapefile.geojson"
    )
    local = gpd.read_file(tiny_run.workdir.path / "results/cluster_shapefile.geojson")
    # the seeds' consensus adds its confidence; everything else is the single-seed table
    assert list(slurm.columns.drop("cluster_confidence")) == list(local.columns)
    assert slurm["cluster_confidence"].between(0, 1).all()
    assert slurm["tile_id"].tolist() == local["tile_id"].tolist()
    assert slurm.crs == local.crs
