"""GPU speed-ups that leave DeepCluster's computation as it is (``--compile``).

- ``torch.compile`` (inductor, static shapes) of the training step's forward/backward and
  of the feature pass: BatchNorm, ReLU, pooling and the Sobel front end become fused
  kernels around cuDNN's convolutions. Static shapes: a run sees two batch sizes per pass
  (full batches and the last one), each compiled once, so no kernel is generic in N.
- fused SGD steps (one kernel for all parameters) for the backbone and the head.
- the feature pass copies each batch's features to pinned memory asynchronously and writes
  them to the memory map one batch later (``FeatureRows``), so the copy and the disk write
  overlap the next batch instead of stalling the GPU.

Only the kernels change: results differ from the eager path by floating-point rounding, as
between two GPU models. On the CPU ``--compile`` is ignored (the inductor CPU backend needs
a C++ toolchain, and the small CPU net gains little), so CPU runs are the eager path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["FeatureRows", "compile_backend", "compiled", "set_fused"]

log = logging.getLogger(__name__)


def compile_backend(device: torch.device) -> str | None:
    """The torch.compile backend ``--compile`` uses on ``device``; None: run eagerly."""
    return "inductor" if device.type == "cuda" else None


def compiled(fn: Callable[..., Any], backend: str | None) -> Callable[..., Any]:
    """``fn`` compiled with ``backend`` (static shapes), or ``fn`` itself when it is None."""
    if backend is None:
        return fn
    return torch.compile(fn, backend=backend, dynamic=False)


def set_fused(optimizer: torch.optim.Optimizer, fused: bool) -> None:
    """Fused (one kernel) or the default steps for every group of ``optimizer``.

    Also after ``load_state_dict``, which brings back the writer's choice with the state.
    """
    for group in optimizer.param_groups:
        group["fused"] = fused or None
        if fused:
            group["foreach"] = None  # torch refuses fused and foreach together


class FeatureRows:
    """Write feature batches from the device into ``out`` (a memmap) one batch behind.

    On a GPU each batch is copied into one of two pinned buffers without waiting; it is
    written to ``out`` when the next batch arrives (or at ``close``), once its copy is
    done. On the CPU rows are written at once.
    """

    def __init__(self, out: np.ndarray, device: torch.device) -> None:
        self.out = out
        self.async_copy = device.type == "cuda"
        self.buffers: list[torch.Tensor] = []
        self.turn = 0
        self.pending: tuple[int, int, torch.Tensor, Any] | None = None

    def put(self, start: int, rows: torch.Tensor) -> None:
        """Rows ``start .. start + len(rows)`` of ``out`` (float32 after the copy)."""
        if not self.async_copy:
            self.out[start : start + len(rows)] = rows.float().numpy()
            return
        host = self._buffer(rows)[: len(rows)]
        host.copy_(rows.float(), non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self._flush()
        self.pending = (start, len(rows), host, done)

    def close(self) -> None:
        """Write the last batch."""
        self._flush()

    def _buffer(self, rows: torch.Tensor) -> torch.Tensor:
        if len(self.buffers) < 2:
            shape = (len(rows), *rows.shape[1:])
            self.buffers.append(torch.empty(shape, dtype=torch.float32, pin_memory=True))
        buffer = self.buffers[self.turn % len(self.buffers)]
        self.turn += 1
        if len(buffer) < len(rows):  # the first batch is the largest; only a guard
            buffer = torch.empty((len(rows), *rows.shape[1:]), dtype=torch.float32, pin_memory=True)
            self.buffers[(self.turn - 1) % len(self.buffers)] = buffer
        return buffer

    def _flush(self) -> None:
        if self.pending is None:
            return
        start, n, host, done = self.pending
        done.synchronize()
        self.out[start : start + n] = host.numpy()
        self.pending = None
