"""Tiles in, normalised model-ready batches out: memmap reads, prefetching, batched augmentation.

Tiles come from a uint8 ``N x H x W x 3`` memory map (tiles.py). Batches are gathered with
numpy fancy indexing from sorted index chunks, moved to the training device
as uint8 (pinned memory + non-blocking copy on GPU) and only there converted,
cropped, resized, flipped and normalised, for the whole batch at once.

Why a hand-written batched RandomResizedCrop: torchvision's transforms (v1 and
v2) draw one set of random parameters per call, so on a batched tensor every
image would get the same crop; DeepCluster needs an independent crop and flip
per image. Cropping and resizing is separable, so each image's crop box
becomes two small resampling matrices (rows and columns; a horizontal flip is
the column matrix reversed) and the whole batch is resampled with two batched
matmuls. The matrices use the antialiased triangle filter of PIL and
torchvision's ``antialias=True`` bilinear resize and only the pixels inside
the box, so each image equals crop-then-resize (tested to 1e-4).
``roi_align`` and ``grid_sample`` could also crop per image, but were 2-4x
slower on CPU at 64 px and do not antialias the same way; the matmuls run
unchanged on a GPU. (Their cost grows as out x in^2, negligible next to VGG16
at 224 px but noticeable for a small net fed strongly downscaled tiles.)
"""

from __future__ import annotations

import collections
import concurrent.futures
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BatchLoader",
    "BatchTransform",
    "make_batches",
    "random_resized_crop_boxes",
    "resample_weights",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_SCALE = (0.08, 1.0)  # torchvision RandomResizedCrop defaults, as in DeepCluster
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
CROP_ATTEMPTS = 10


# --- batches ------------------------------------------------------------------------------------
def make_batches(indices: np.ndarray, batch_size: int, sort: bool = True) -> list[np.ndarray]:
    """Split ``indices`` into consecutive batches, each sorted (memmap reads go forward)."""
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    return [np.sort(b) for b in batches] if sort else batches


class BatchLoader:
    """Yield ``(indices, uint8 tensor B x H x W x 3)`` for each batch of tile indices.

    ``workers`` background threads read ahead (numpy copies and page faults
    run while the model computes); 0 reads in the calling thread. With
    ``pin`` the batches land in pinned memory for non-blocking GPU copies.
    """

    def __init__(
        self, tiles: np.ndarray, batches: Sequence[np.ndarray], workers: int = 0, pin: bool = False
    ) -> None:
        self.tiles = tiles
        self.batches = batches
        self.workers = workers
        self.pin = pin

    def __len__(self) -> int:
        return len(self.batches)

    def read(self, indices: np.ndarray) -> torch.Tensor:
        """Tiles ``indices`` as one uint8 tensor (a slice read when they are consecutive)."""
        shape = (len(indices), *self.tiles.shape[1:])
        out = torch.empty(shape, dtype=torch.uint8, pin_memory=self.pin)
        first = int(indices[0])
        # Not just first..last spanning len(indices): the uniform sampler draws small
        # clusters with replacement, and [0, 0, 2] spans 3 indices but is not 0, 1, 2.
        if np.all(np.diff(indices) == 1):
            out.numpy()[...] = self.tiles[first : first + len(indices)]
        else:
            np.take(self.tiles, indices, axis=0, out=out.numpy())
        return out

    def __iter__(self) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        if self.workers <= 0:
            for indices in self.batches:
                yield indices, self.read(indices)
            return
        ahead = 2 * self.workers
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            pending: collections.deque = collections.deque()
            batches = iter(self.batches)
            for indices in batches:
                pending.append((indices, pool.submit(self.read, indices)))
                if len(pending) >= ahead:
                    break
            while pending:
                indices, future = pending.popleft()
                nxt = next(batches, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(self.read, nxt)))
                yield indices, future.result()


# --- batched transforms on the device ----------------------------------------------------------
def resample_weights(
    start: torch.Tensor, length: torch.Tensor, in_size: int, out_size: int
) -> torch.Tensor:
    """Row-stochastic (n x out_size x in_size) matrices resampling [start, start+length) to out_size.

    Antialiased triangle (bilinear) filter, as PIL and torchvision's
    ``antialias=True``: its half-width is one input pixel when enlarging and
    one output pixel (in input units) when shrinking. Only pixels inside the
    window contribute, as when the crop is cut out first and then resized.
    """
    scale = length / out_size
    centres = start[:, None] + (torch.arange(out_size, device=start.device) + 0.5) * scale[:, None]
    support = scale.clamp(min=1.0)[:, None, None]
    pixel_centres = torch.arange(in_size, device=start.device) + 0.5
    weights = (1.0 - (pixel_centres - centres[:, :, None]).abs() / support).clamp(min=0.0)
    inside = (pixel_centres > start[:, None]) & (pixel_centres < (start + length)[:, None])
    weights = weights * inside[:, None, :]
    return weights / weights.sum(dim=-1, keepdim=True)


def random_resized_crop_boxes(
    n: int,
    height: int,
    width: int,
    generator: torch.Generator,
    scale: tuple[float, float] = CROP_SCALE,
    ratio: tuple[float, float] = CROP_RATIO,
) -> torch.Tensor:
    """(n x 4) boxes top, left, h, w drawn as torchvision's RandomResizedCrop, for every image.

    Up to 10 tries per image for a box that fits, else the central crop with
    the aspect ratio clamped to ``ratio``.
    """
    area = height * width
    target = area * torch.empty(n, CROP_ATTEMPTS).uniform_(*scale, generator=generator)
    log_ratio = torch.empty(n, CROP_ATTEMPTS).uniform_(
        math.log(ratio[0]), math.log(ratio[1]), generator=generator
    )
    aspect = torch.exp(log_ratio)
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    pick = fits.int().argmax(dim=1)
    rows = torch.arange(n)
    w, h = w[rows, pick], h[rows, pick]
    u = torch.rand(n, 2, generator=generator)
    top = torch.floor(u[:, 0] * (height - h + 1))
    left = torch.floor(u[:, 1] * (width - w + 1))
    # fallback: central crop
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        fw, fh = round(height * ratio[1]), height
    else:
        fw, fh = width, height
    ok = fits.any(dim=1)
    h = torch.where(ok, h, float(fh))
    w = torch.where(ok, w, float(fw))
    top = torch.where(ok, top, float((height - fh) // 2))
    left = torch.where(ok, left, float((width - fw) // 2))
    return torch.stack([top, left, h, w], dim=1)


class BatchTransform:
    """uint8 B x H x W x 3 batches -> normalised float B x 3 x S x S model inputs on ``device``."""

    def __init__(
        self,
        tile_shape: tuple[int, int],
        out_size: int,
        device: torch.device,
        channels_last: bool = False,
        flip: bool = True,
    ) -> None:
        self.height, self.width = tile_shape
        self.out_size = out_size
        self.device = device
        self.channels_last = channels_last
        self.flip = flip
        std = torch.tensor(IMAGENET_STD, device=device)
        self.scale = (1.0 / (255.0 * std)).view(1, 3, 1, 1)
        self.shift = (-torch.tensor(IMAGENET_MEAN, device=device) / std).view(1, 3, 1, 1)

    def to_device(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> float B x 3 x H x W on the device (non-blocking from pinned memory)."""
        batch = batch.to(self.device, non_blocking=True)
        return batch.permute(0, 3, 1, 2).float()

    def eval(self, batch: torch.Tensor) -> torch.Tensor:
        """Deterministic transform of the feature pass: resize the whole tile to out_size."""
        x = self.to_device(batch)
        if (self.height, self.width) != (self.out_size, self.out_size):
            # one size for all: torch's antialiased bilinear (the same filter as resample_weights)
            size = (self.out_size, self.out_size)
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        return self._finish(x)

    def train(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """RandomResizedCrop(out_size) + horizontal flip, independently for each image."""
        n, height, width, channels = batch.shape
        out = self.out_size
        boxes = random_resized_crop_boxes(n, height, width, generator)
        flips = torch.rand(n, generator=generator) < 0.5
        boxes, flips = boxes.to(self.device), flips.to(self.device)
        rows = resample_weights(boxes[:, 0], boxes[:, 2], height, out)
        cols = resample_weights(boxes[:, 1], boxes[:, 3], width, out)
        if self.flip:
            cols = torch.where(flips[:, None, None], cols.flip(1), cols)
        # B x H x W x C stays in its memory order: rows, then columns, as two batched matmuls
        x = batch.to(self.device, non_blocking=True).float().view(n, height, width * channels)
        x = torch.bmm(rows, x).view(n, out, width, channels)
        x = x.transpose(1, 2).reshape(n, width, out * channels)
        x = torch.bmm(cols, x).view(n, out, out, channels)  # B x W' x H' x C
        return self._finish(x.permute(0, 3, 2, 1))

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.addcmul(self.shift, x, self.scale)
        if self.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x.contiguous()
