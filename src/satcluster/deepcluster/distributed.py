"""Small DistributedDataParallel helpers so that the training loop can stay the paper's loop.

One process per GPU (or per CPU share with gloo), started by torchrun. With a
single process every helper degrades to a no-op.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "Context",
    "barrier",
    "broadcast_buffers",
    "broadcast_floats",
    "broadcast_labels",
    "init",
    "launched_by_torchrun",
    "mean_over_ranks",
    "shutdown",
    "sum_over_ranks",
    "torchrun_command",
    "wrap",
]

log = logging.getLogger(__name__)

# Rank 0 clusters while the others wait at a barrier: allow for slow k-means at scale.
TIMEOUT = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def init(use_cuda: bool) -> Context:
    """Join the process group torchrun set up (nccl on GPU, gloo on CPU), or a 1-process context."""
    if not launched_by_torchrun():
        device = torch.device("cuda", 0) if use_cuda else torch.device("cpu")
        if use_cuda:
            torch.cuda.set_device(device)
        return Context(device=device)
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    if use_cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    dist.init_process_group(backend, timeout=TIMEOUT, device_id=device if use_cuda else None)
    return Context(rank, world_size, local_rank, device)


def shutdown(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def wrap(model: nn.Module, ctx: Context) -> nn.Module:
    """DDP-wrap ``model`` when there are several processes; the module itself otherwise."""
    if not ctx.distributed:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def broadcast_labels(labels: np.ndarray | None, n: int, ctx: Context) -> np.ndarray:
    """Rank 0's ``n`` int64 labels, on every rank."""
    if not ctx.distributed:
        assert labels is not None
        return labels
    buf = torch.empty(n, dtype=torch.int64, device=ctx.device)
    if ctx.is_main:
        buf.copy_(torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)))
    dist.broadcast(buf, src=0)
    return buf.cpu().numpy()


def broadcast_floats(values: list[float], ctx: Context) -> list[float]:
    """Rank 0's list of floats (same length on every rank), on every rank."""
    if not ctx.distributed:
        return values
    buf = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.broadcast(buf, src=0)
    return buf.cpu().tolist()


def broadcast_buffers(model: nn.Module, ctx: Context) -> None:
    """Rank 0's buffers (BatchNorm running statistics) into ``model`` on every rank.

    DDP broadcasts buffers only at the start of a forward pass in train mode, so
    after the last step each rank's running statistics include its own last
    batch; a feature pass in eval mode would otherwise use a different model on
    every rank than the one rank 0 saves.
    """
    if not ctx.distributed:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def sum_over_ranks(values: list[float], ctx: Context) -> list[float]:
    """Element-wise sums of ``values`` (same length on every rank) over all ranks, in float64."""
    if not ctx.distributed:
        return values
    buf = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(buf)
    return buf.cpu().tolist()


def mean_over_ranks(total: torch.Tensor, count: int, ctx: Context) -> float:
    """Sum of ``total`` over ranks divided by the sum of ``count``: an average across processes."""
    buf = torch.stack([total.detach().double(), torch.tensor(float(count), device=total.device)])
    if ctx.distributed:
        buf = buf.to(ctx.device)
        dist.all_reduce(buf)
    return float(buf[0] / buf[1]) if buf[1] > 0 else float("nan")


def torchrun_command(nproc: int) -> list[str]:
    """Command line that starts ``nproc`` copies of ``python -m satcluster.deepcluster``."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        f"--nproc_per_node={nproc}",
        "-m",
        "satcluster.deepcluster",
    ]
