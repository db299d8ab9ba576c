"""Frozen features of a chunk of tiles, written as a float32 .npy (gather.py joins the chunks).

``extract_features`` reads rows ``[start, stop)`` of the memory-mapped tiles batch by batch
(a background thread reads ahead), resizes each whole tile to the backbone's input size
(bilinear with antialiasing, as torchvision's resize), normalises it with the backbone's
mean/std, runs the model under ``torch.inference_mode`` (bf16 autocast and channels_last
on CUDA, float32 on CPU) and streams the pooled features to the file: memory is bounded
by the batch, not the chunk.

Same bytes whatever the chunking: batches are aligned to the whole file (batch ``j`` is
always rows ``[j * batch, (j + 1) * batch)``, the last one shorter) and a chunk that starts
or stops inside a batch still runs that whole batch and keeps its own rows. Every tile thus
goes through the model in the same batch as in a single run, because some kernels give
results that depend on the batch (measured: a torchvision ResNet-18 on CPU differs by 2e-6
between batches of 3 and 8). Chunks whose bounds are multiples of ``batch`` cost nothing
extra; others recompute at most two batches. Two chunks gathered then equal one chunk,
byte for byte, on the same machine, thread count and batch size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satcluster.deepcluster.data import BatchLoader
from satcluster.deepcluster.tiles import open_tiles
from satcluster.errors import InputError
from satcluster.io import atomic_path
from satcluster.pretrained.backbones import Backbone
from satcluster.pretrained.gather import FEATURE_DTYPE, write_header

__all__ = ["extract_features"]


def extract_features(
    tiles_npy: str | Path,
    model: nn.Module,
    config: Backbone,
    start: int,
    stop: int,
    out_path: str | Path,
    *,
    batch: int = 64,
    device: str | torch.device = "cpu",
    workers: int = 1,
) -> Path:
    """Write the ``(stop - start) x D`` float32 features of tiles ``[start, stop)`` to ``out_path``.

    ``model`` and ``config`` come from ``load_backbone``; the model is moved to ``device``.
    ``workers`` threads read tiles ahead of the model (0: read in this thread). The file
    is written under a temporary name and renamed when complete.
    """
    tiles = open_tiles(tiles_npy)
    if not 0 <= start < stop <= len(tiles):
        raise InputError(
            f"rows [{start}, {stop}) are not a chunk of the {len(tiles)} tiles in {tiles_npy}."
        )
    if batch < 1:
        raise InputError(f"batch must be at least 1, not {batch}.")
    if config.mean is None or config.std is None:
        raise InputError(f"backbone {config.name} has no mean/std; give them to load_backbone.")
    device = torch.device(device)
    cuda = device.type == "cuda"
    model = model.to(device).eval()
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    prepare = _Prepare(config, tiles.shape[1:3], device, channels_last=cuda)
    batches, keep = _aligned_batches(start, stop, batch, len(tiles))
    loader = BatchLoader(tiles, batches, workers=workers, pin=cuda)
    out_path = Path(out_path)
    with (
        atomic_path(out_path) as tmp,
        open(tmp, "wb") as out,
        _deterministic(),
        torch.inference_mode(),
    ):
        for (_, uint8), rows in zip(loader, keep, strict=True):
            features = _forward(model, prepare(uint8), cuda)[rows]
            if features.ndim != 2:
                raise InputError(
                    f"{config.name} gave features of shape {tuple(features.shape)}, not "
                    "batch x D: choose a backbone listed in satcluster.pretrained.backbones."
                )
            if out.tell() == 0:
                write_header(out, (stop - start, features.shape[1]))
            out.write(features.float().cpu().numpy().astype(FEATURE_DTYPE).tobytes())
    return out_path


def _aligned_batches(
    start: int, stop: int, batch: int, total: int
) -> tuple[list[np.ndarray], list[slice]]:
    """The whole-file batches that hold rows ``[start, stop)``, and the part of each to keep."""
    batches, keep = [], []
    for first in range(start - start % batch, stop, batch):
        rows = np.arange(first, min(first + batch, total))
        batches.append(rows)
        keep.append(slice(max(start, first) - first, min(stop, first + batch) - first))
    return batches, keep


class _Prepare:
    """uint8 ``B x H x W x 3`` -> normalised float ``B x 3 x S x S`` on the device."""

    def __init__(
        self,
        config: Backbone,
        tile_shape: tuple[int, int],
        device: torch.device,
        channels_last: bool,
    ) -> None:
        self.size = config.input_size
        self.resize = self.size is not None and tuple(tile_shape) != (self.size, self.size)
        self.device = device
        self.channels_last = channels_last
        std = torch.tensor(config.std, dtype=torch.float32, device=device)
        mean = torch.tensor(config.mean, dtype=torch.float32, device=device)
        # (x / 255 - mean) / std as one fused multiply-add on the 0-255 values
        self.scale = (1.0 / (255.0 * std)).view(1, 3, 1, 1)
        self.shift = (-mean / std).view(1, 3, 1, 1)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()
        if self.resize:
            size = (self.size, self.size)
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        x = torch.addcmul(self.shift, x, self.scale)
        if self.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x.contiguous()


def _forward(model: nn.Module, x: torch.Tensor, cuda: bool) -> torch.Tensor:
    """Pooled features of one batch: bf16 autocast on CUDA, float32 on the CPU."""
    if cuda:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return model(x)
    return model(x)


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """Deterministic kernels (and no cuDNN autotuning) for the block; previous settings restored."""
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    # warn_only: an op without a deterministic kernel warns instead of failing the run
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = previous[2:]
