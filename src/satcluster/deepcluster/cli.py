"""Command line compatible with the reference main.py / the authors' main_sfeatures.py.

    python -m satcluster.deepcluster DIR --arch vgg16 --sobel --k 16 --lr 1e-4 ...

DIR is a folder of image tiles (searched recursively) or a tiles .npy. With
several GPUs visible (or ``--nproc`` > 1 on CPU) the command re-launches itself
under torchrun, one process per GPU; the workers find their tiles and device
in the environment that the launcher sets.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import torch

from satcluster.clustering.faiss_backend import set_faiss_threads
from satcluster.deepcluster import distributed
from satcluster.deepcluster.options import add_arguments, settings_from_args
from satcluster.deepcluster.outputs import Outputs
from satcluster.deepcluster.settings import Settings, check_inputs
from satcluster.deepcluster.tiles import folder_to_tiles
from satcluster.deepcluster.train import train_deepcluster
from satcluster.errors import InputError
from satcluster.runlog import setup_logging, user_errors_exit

__all__ = [
    "build_parser",
    "gpus_to_use",
    "launch_workers",
    "main",
    "parse_args",
    "resolve_tiles",
    "run",
    "settings_from_args",
]

log = logging.getLogger("satcluster.deepcluster")

# Set by the launcher for its torchrun workers. The arguments travel in the environment, not
# on torchrun's command line, where its own parser would take --nproc or --log as abbreviations.
ENV_ARGV = "SATCLUSTER_DEEPCLUSTER_ARGV"
ENV_TILES = "SATCLUSTER_DEEPCLUSTER_TILES"
ENV_DEVICE = "SATCLUSTER_DEEPCLUSTER_DEVICE"


def build_parser() -> argparse.ArgumentParser:
    """The options of settings.py (``Settings`` and ``RunOptions``), reference names kept."""
    parser = argparse.ArgumentParser(
        prog="python -m satcluster.deepcluster",
        description="DeepCluster (Caron et al. 2018) on image tiles; resumable, multi-GPU.",
    )
    add_arguments(parser)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parsed options; ``args.argv`` keeps the list, which torchrun workers parse again."""
    args = build_parser().parse_args(argv)
    args.argv = [str(a) for a in argv]
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if distributed.launched_by_torchrun() and ENV_ARGV in os.environ:
        argv = json.loads(os.environ[ENV_ARGV])
    args = parse_args(argv)
    worker_rank = int(os.environ.get("RANK", "0")) if distributed.launched_by_torchrun() else 0
    setup_logging(args.log, level=logging.INFO if worker_rank == 0 else logging.WARNING)
    with user_errors_exit(log):
        run(args)
    return 0


def run(args: argparse.Namespace) -> None:
    """Train on one process, or launch one process per GPU (per --nproc on CPU) with torchrun."""
    exp = Path(args.exp or ".")
    outputs = Outputs.in_dir(args.out or exp, args.features_name)
    settings = settings_from_args(args)
    if distributed.launched_by_torchrun():
        _run_worker(
            Path(os.environ[ENV_TILES]), os.environ[ENV_DEVICE], settings, exp, outputs, args
        )
        return
    log_environment()
    tiles = resolve_tiles(args.data, exp)
    check_inputs(tiles, settings)
    n_gpus = gpus_to_use(args.gpus)
    nproc = n_gpus or max(1, args.nproc)
    device = "cuda" if n_gpus else "cpu"
    log.info("training on %s with %d process(es)", f"{n_gpus} GPU(s)" if n_gpus else "CPU", nproc)
    if nproc > 1:
        launch_workers(nproc, tiles, device, args)
        return
    _set_threads(args.threads, 1)
    ctx = distributed.init(use_cuda=device == "cuda")
    train_deepcluster(tiles, settings, exp, outputs, ctx)


def log_environment() -> None:
    """What the job was given: the rule log shows it (e.g. that SLURM granted 3 GPUs)."""
    log.info(
        "CUDA_VISIBLE_DEVICES=%s SLURM_GPUS_ON_NODE=%s torch.cuda.device_count()=%d torch %s",
        os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"),
        os.environ.get("SLURM_GPUS_ON_NODE", "(unset)"),
        torch.cuda.device_count(),
        torch.__version__,
    )


def gpus_to_use(requested: int | None) -> int:
    """min(requested, visible) GPUs; all visible when ``requested`` is None; 0 means CPU."""
    visible = torch.cuda.device_count()
    if requested is None:
        return visible
    if requested > visible:
        log.warning("%d GPU(s) requested but %d visible: using %d", requested, visible, visible)
    return max(0, min(requested, visible))


def resolve_tiles(data: str | Path, exp: Path) -> Path:
    """The tiles .npy to train on: DIR itself, or a one-off conversion of a folder of tiles."""
    data = Path(data)
    if data.is_dir():
        return folder_to_tiles(data, exp / "tiles_from_folder.npy")
    if data.suffix == ".npy":
        return data
    raise InputError(f"DIR {data} is neither a folder of image tiles nor a tiles .npy file.")


def launch_workers(nproc: int, tiles: Path, device: str, args: argparse.Namespace) -> None:
    """Run ``nproc`` copies of this command under torchrun (single node) and wait for them."""
    cmd = distributed.torchrun_command(nproc)
    env = {**os.environ, ENV_ARGV: json.dumps(args.argv), ENV_TILES: str(tiles.resolve())}
    env[ENV_DEVICE] = device
    threads = args.threads or _cpu_count()
    env.setdefault("OMP_NUM_THREADS", str(max(1, threads // nproc)))
    log.info("launching: %s", " ".join(cmd))
    sink = open(args.log, "a") if args.log else None  # noqa: SIM115 - closed below
    try:
        code = subprocess.call(
            cmd, env=env, stdout=sink, stderr=subprocess.STDOUT if sink else None
        )
    finally:
        if sink:
            sink.close()
    if code != 0:
        log.error("the %d training processes failed (exit status %d); see above", nproc, code)
        raise SystemExit(code)


def _run_worker(
    tiles: Path,
    device: str,
    settings: Settings,
    exp: Path,
    outputs: Outputs,
    args: argparse.Namespace,
) -> None:
    ctx = distributed.init(use_cuda=device == "cuda")
    _set_threads(args.threads, ctx.world_size)
    try:
        train_deepcluster(tiles, settings, exp, outputs, ctx)
    finally:
        distributed.shutdown(ctx)


def _set_threads(threads: int | None, nproc: int) -> None:
    total = threads or _cpu_count()
    torch.set_num_threads(max(1, total // nproc))
    set_faiss_threads(total)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
