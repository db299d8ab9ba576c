"""Pretrained-feature benchmarks on CPU, baselines measured in the same run.

(a) extraction efficiency: images/s of ``extract_features`` (memmap tiles -> resize to 224 px
    -> normalise -> model -> float32 .npy) divided by images/s of a plain loop over the same
    model on a batch already resized and normalised in memory (``model(x)`` under
    ``torch.inference_mode``), for a ResNet-50 (torchvision) and a ViT-S/16 (timm) with
    random weights written to a file and loaded through ``load_backbone``. Aim: >= 0.9.
(b) gather memory: peak resident memory of ``gather_features`` joining chunk files of
    ``--gather-rows`` x ``--gather-dim`` float32 features in all (default 10^6 x 1024 = 4 GB,
    which needs 8 GB of free disk for the chunks and the result), measured in a child
    process that does nothing else (its VmHWM). Aim: well under 4 GB, whatever the size.

    PYTHONPATH=src python benchmarks/pretrained.py [--quick] [--tiles N] [--batch B]
        [--threads T] [--gather-rows R] [--gather-dim D] [--gather-chunks C] [--dir DIR]

``--quick``: 32 tiles, batch 16, two repeats, a 10^5 x 1024 (400 MB) gather.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
import torchvision

from satcluster.pretrained import extract_features, load_backbone

ARCHS = {
    "ResNet-50": ("torchvision:resnet50", lambda: torchvision.models.resnet50()),
    "ViT-S/16": ("timm:vit_small_patch16_224", lambda: timm.create_model("vit_small_patch16_224")),
}
INPUT_PX = 224
BLOCK_ROWS = 16384  # rows per write when making the gather's chunk files


def synthetic_tiles(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Random uint8 RGB tiles (the content does not change the compute)."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def prepared_batch(tiles: np.ndarray, config) -> torch.Tensor:
    """The plain loop's input: tiles resized and normalised once, in memory."""
    x = torch.from_numpy(np.ascontiguousarray(tiles)).permute(0, 3, 1, 2).float() / 255
    x = F.interpolate(x, size=(INPUT_PX, INPUT_PX), mode="bilinear", antialias=True)
    mean = torch.tensor(config.mean).view(1, 3, 1, 1)
    std = torch.tensor(config.std).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def plain_loop(model: torch.nn.Module, x: torch.Tensor, batches: int) -> float:
    """Seconds for ``batches`` forward passes of ``x`` under inference_mode."""
    start = time.perf_counter()
    with torch.inference_mode():
        for _ in range(batches):
            model(x)
    return time.perf_counter() - start


def extraction(tiles_path: Path, model, config, n: int, batch: int, out: Path) -> float:
    """Seconds for extract_features over all n tiles (file written and renamed)."""
    start = time.perf_counter()
    extract_features(tiles_path, model, config, 0, n, out, batch=batch)
    return time.perf_counter() - start


def extraction_efficiency(folder: Path, tiles: np.ndarray, batch: int, repeats: int) -> None:
    """(a): extract_features against a plain loop over the same model, per architecture."""
    n = len(tiles) - len(tiles) % batch  # whole batches: the plain loop runs the same count
    tiles_path = folder / "tiles.npy"
    np.save(tiles_path, tiles[:n])
    print(
        f"(a) extraction efficiency: {n} tiles of {tiles.shape[1]} px -> {INPUT_PX} px, batch "
        f"{batch}, best of {repeats} (alternating)"
    )
    for label, (arch, build) in ARCHS.items():
        torch.manual_seed(0)
        weights = folder / f"{label.replace('/', '')}.pth"
        torch.save(build().state_dict(), weights)
        model, config = load_backbone(arch, weights, input_size=INPUT_PX)
        x = prepared_batch(tiles[:batch], config)
        plain_loop(model, x, 1)  # warm-up: oneDNN primitives, allocator
        extraction(tiles_path, model, config, batch, batch, folder / "warm.npy")
        plain, ours = [], []
        for _ in range(repeats):
            plain.append(plain_loop(model, x, n // batch))
            ours.append(extraction(tiles_path, model, config, n, batch, folder / "f.npy"))
        plain_rate, our_rate = n / min(plain), n / min(ours)
        print(
            f"    {label:9s} plain loop {plain_rate:7.2f} img/s   extract_features "
            f"{our_rate:7.2f} img/s   ratio {our_rate / plain_rate:.3f}"
        )


def write_chunks(folder: Path, rows: int, dim: int, chunks: int) -> list[Path]:
    """``chunks`` float32 .npy files of rows/chunks x dim, written block by block."""
    block = np.random.default_rng(1).standard_normal((BLOCK_ROWS, dim)).astype("<f4")
    paths = []
    bounds = np.linspace(0, rows, chunks + 1).astype(int)
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        path = folder / f"chunk{i:03d}.npy"
        with open(path, "wb") as f:
            header = {"descr": "<f4", "fortran_order": False, "shape": (int(hi - lo), dim)}
            np.lib.format.write_array_header_1_0(f, header)
            for first in range(lo, hi, BLOCK_ROWS):
                block[0, 0] = first  # a marker per block, checked after the gather
                f.write(block[: min(BLOCK_ROWS, hi - first)].tobytes())
        paths.append(path)
    return paths


# The child reads VmHWM (the high-water mark of its own address space) rather than ru_maxrss:
# Linux carries the parent's peak into ru_maxrss across fork and exec.
GATHER_CHILD = """
import json, sys
from pathlib import Path
from satcluster.pretrained.gather import gather_features
def status_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
before = status_mb("VmHWM")
args = json.loads(sys.argv[1])
gather_features([Path(p) for p in args["chunks"]], Path(args["out"]))
print(json.dumps({"before_mb": before, "peak_mb": status_mb("VmHWM")}))
"""


def gather_memory(folder: Path, rows: int, dim: int, chunks: int) -> None:
    """(b): peak RSS of a child process that only imports and runs gather_features."""
    gigabytes = rows * dim * 4 / 1e9
    print(f"(b) gather_features: {chunks} chunks, {rows} x {dim} float32 ({gigabytes:.2f} GB)")
    start = time.perf_counter()
    paths = write_chunks(folder, rows, dim, chunks)
    print(f"    chunk files written in {time.perf_counter() - start:.1f} s")
    out = folder / "features.npy"
    args = json.dumps({"chunks": [str(p) for p in paths], "out": str(out)})
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", GATHER_CHILD, args], check=True, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    memory = json.loads(result.stdout.strip().splitlines()[-1])
    joined = np.load(out, mmap_mode="r")
    assert joined.shape == (rows, dim), joined.shape
    bounds = np.linspace(0, rows, chunks + 1).astype(int)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        for first in range(lo, hi, BLOCK_ROWS * 8):
            assert joined[first, 0] == first, (first, joined[first, 0])
    print(
        f"    gathered in {seconds:.1f} s ({gigabytes / seconds:.2f} GB/s); peak RSS "
        f"{memory['peak_mb']:.0f} MB, of which {memory['before_mb']:.0f} MB before the gather "
        f"(imports): gather itself {memory['peak_mb'] - memory['before_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (see the docstring)")
    parser.add_argument("--tiles", type=int, default=256)
    parser.add_argument("--size", type=int, default=256, help="tile side in px")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--gather-rows", type=int, default=10**6)
    parser.add_argument("--gather-dim", type=int, default=1024)
    parser.add_argument("--gather-chunks", type=int, default=16)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: /tmp)")
    parser.add_argument("--skip", choices=("a", "b"), default=None, help="skip one part")
    args = parser.parse_args()
    if args.quick:
        args.tiles, args.batch, args.repeats, args.gather_rows = 32, 16, 2, 10**5
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, timm {timm.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        if args.skip != "a":
            tiles = synthetic_tiles(args.tiles, args.size)
            extraction_efficiency(Path(tmp), tiles, args.batch, args.repeats)
        if args.skip != "b":
            gather_memory(Path(tmp), args.gather_rows, args.gather_dim, args.gather_chunks)


if __name__ == "__main__":
    main()
