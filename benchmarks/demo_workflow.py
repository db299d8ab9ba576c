"""The whole workflow (or some targets of it) on config/config.yaml's demo city, in a folder.

Shared by the scripts that need real workflow results (scale.py, gpu/gpu_workflow.py and
experiments/consensus.py, which put this folder on their import path): the
repository's Snakefile and config, with ``overrides`` layered on as a second config file,
run with ``--directory`` so that results/ and resources/ land in ``workdir``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_demo_workflow(
    workdir: Path,
    overrides: dict,
    cores: int,
    targets: Sequence[str] = (),
    options: Sequence[str] = (),
) -> float:
    """Run Snakemake in ``workdir`` on the demo config plus ``overrides``; wall seconds.

    ``options``: more Snakemake options (e.g. ``--set-threads``), placed before the config.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    overlay = workdir / "benchmark_overrides.yaml"
    overlay.write_text(yaml.safe_dump(overrides))
    command = [
        sys.executable,  # `-m snakemake`: also where it is installed with `pip --target`
        "-m",
        "snakemake",
        *targets,  # before the options: --configfile takes every word that follows it
        *options,
        "--snakefile",
        str(ROOT / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(ROOT / "config" / "config.yaml"),
        str(overlay),
        "--cores",
        str(cores),
        "--quiet",
        "rules",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start
