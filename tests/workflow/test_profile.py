"""The SLURM profile as users run it, checked without a cluster (dry runs).

`snakemake --cores all --profile slurm` from the repository root must find
profiles/slurm through the `slurm` link, and `snakemake -n --profile slurm` must work on a
machine without SLURM: there the slurm executor is swapped for the dry-run one.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness.tiny_runs import tiny_study_overrides
from tests.harness.workflow_dir import REPO, WorkflowDir, job_resources

TRAINING_RULE = "train_deepcluster"


@pytest.fixture
def no_slurm_env(tmp_path: Path) -> dict[str, str]:
    """Environment whose PATH has Python's bin and bash, but no SLURM command at all."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sh", "which"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    python_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM")}
    env["PATH"] = f"{python_bin}:{bin_dir}"
    env["SLURM_CONF"] = str(tmp_path / "no-such-slurm.conf")
    return env


def profile() -> dict:
    return yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())


def test_slurm_link_at_repo_root_points_to_the_profile():
    link = REPO / "slurm"
    assert link.is_symlink()
    assert os.readlink(link) == "profiles/slurm"  # relative: survives clones and moves
    assert (link / "config.yaml").resolve() == (REPO / "profiles/slurm/config.yaml").resolve()


def test_profile_settings_for_real_clusters():
    settings = profile()
    assert settings["executor"] == "slurm"
    assert settings["jobs"] >= 10
    assert settings["retries"] >= 1  # a killed training job is retried and resumes
    assert settings["latency-wait"] >= 30  # shared file systems lag
    defaults = settings["default-resources"]
    assert defaults["mem_mb"] > 0 and defaults["runtime"] > 0
    # The local test cluster's needs stay out of the user-facing profile.
    for local_only in ("slurm-status-command", "slurm-no-account", "slurm-partition"):
        assert local_only not in settings
    assert "slurm_partition" not in defaults and "slurm_account" not in defaults
    text = (REPO / "profiles" / "slurm" / "config.yaml").read_text()
    assert "# slurm_partition:" in text and "# slurm_account:" in text  # documented


def test_users_dry_run_with_profile_needs_no_slurm(workflow_dir: WorkflowDir, no_slurm_env):
    """Exactly the user's command, with -n, on the default (demo) config, SLURM absent."""
    result = workflow_dir.snakemake(
        "-n", "--profile", "slurm", cores="all", configfile=None, env=no_slurm_env
    )
    output = result.stdout + result.stderr
    assert re.search(r"Using profiles? slurm\b", output)
    jobs = job_resources(output)
    # the demo asks for the GPUs of a real city (deepcluster.gpus, 3 unless set) on one node
    (training,) = jobs[TRAINING_RULE]
    assert (training["gpu"], training["nodes"]) == ("3", "1")
    for rule, resources in jobs.items():
        for job in resources:  # every job asks for memory and time from the profile or rule
            assert int(job["mem_mb"]) > 0 and int(job["runtime"]) > 0, rule


@pytest.mark.parametrize("gpus", [3, 2])
def test_training_job_gets_config_gpus_on_one_node(
    workflow_dir: WorkflowDir, no_slurm_env, gpus: int
):
    workflow_dir.update_config({"deepcluster": {"gpus": gpus}})
    result = workflow_dir.snakemake("-n", "--profile", "slurm", cores="all", env=no_slurm_env)
    (training,) = job_resources(result.stdout + result.stderr)[TRAINING_RULE]
    assert training["gpu"] == str(gpus)
    assert training["nodes"] == "1"
    # `tasks` on a GPU job becomes --ntasks-per-gpu: the script would run once per GPU.
    assert "tasks" not in training and "tasks_per_gpu" not in training
    assert int(training["runtime"]) >= 24 * 60  # a day at paper scale
    assert int(training["mem_mb"]) >= 32000


def test_a_study_submits_one_gpu_job_per_scale_and_seed(workflow_dir: WorkflowDir, no_slurm_env):
    """Two seeds x two scales: four training jobs, each its GPUs on one node, side by side."""
    study = tiny_study_overrides()
    workflow_dir.update_config({**study, "deepcluster": {**study["deepcluster"], "gpus": 2}})
    result = workflow_dir.snakemake("-n", "--profile", "slurm", cores="all", env=no_slurm_env)
    training = job_resources(result.stdout + result.stderr)[TRAINING_RULE]
    n_models = len(study["tiles"]["size_px"]) * len(study["deepcluster"]["seeds"])
    assert len(training) == n_models
    assert all(job["gpu"] == "2" and job["nodes"] == "1" for job in training)
    # no training job waits for another: each needs only its scale's pooled tiles
    dot = workflow_dir.snakemake("--rulegraph", cores="1").stdout
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', dot, flags=re.M))
    edges = [(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M)]
    assert {a for a, b in edges if b == TRAINING_RULE} == {"pool_tiles"}


def test_profile_set_resources_name_existing_rules(workflow_dir: WorkflowDir):
    result = workflow_dir.snakemake("--list-rules")
    rules = set(result.stdout.split())
    assert set(profile().get("set-resources", {})) <= rules
