"""DeepCluster data-path benchmarks on CPU (small net), baselines measured in the same run.

(a) data-path efficiency: end-to-end training images/s (memmap -> batch ->
    batched augmentation -> forward/backward/step) divided by compute-only
    images/s (same model and batch, random tensors already on the device).
(b) against the original design: tiles written as individual PNG files,
    an ImageFolder-style dataset (PIL + per-image torchvision transforms:
    RandomResizedCrop, flip, ToTensor, Normalize) and a DataLoader, same model,
    batch and clustering: time of one DeepCluster epoch (feature pass +
    clustering + training pass), ratio original / ours.

VGG16-BN at 224 px trains at ~1.4 img/s on 2 CPU cores, so this CPU
benchmark uses the small net; benchmarks/gpu/gpu.sh measures VGG16 on a GPU.

    PYTHONPATH=src python benchmarks/deepcluster.py [--tiles N] [--size PX] [--threads T]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from satcluster.deepcluster.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchLoader,
    BatchTransform,
    make_batches,
)
from satcluster.deepcluster.models import build_model
from satcluster.deepcluster.pseudolabels import cluster_features
from satcluster.deepcluster.sampler import uniform_label_sample

CHANNELS_LAST = torch.channels_last  # as in training, for every model here (same model)


def synthetic_tiles(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour fields with stripes: compressible like imagery, unlike white noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    tiles = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        angle, freq = rng.uniform(0, np.pi), rng.uniform(2, 12)
        wave = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
        colour = rng.uniform(40, 200, 3)
        image = colour + 40 * wave[..., None] + rng.normal(0, 6, (size, size, 3))
        tiles[i] = np.clip(image, 0, 255)
    return tiles


def train_step(model, optimizer, x, y) -> None:
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def images_per_second(step, batches: int, batch: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(batches):
        step()
    return batches * batch / (time.perf_counter() - start)


# --- (a) data-path efficiency ------------------------------------------------------------------
def small_model(k: int = 16) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = build_model("small", sobel=True, num_classes=k).to(memory_format=CHANNELS_LAST)
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def data_path_efficiency(
    tiles: np.ndarray, size: int, batch: int, batches: int, repeats: int
) -> None:
    tile = tiles.shape[1]
    model, optimizer = small_model()
    transform = BatchTransform((tile, tile), size, torch.device("cpu"), channels_last=True)
    rng = np.random.default_rng(0)
    x_fixed = torch.randn(batch, 3, size, size).contiguous(memory_format=CHANNELS_LAST)
    y_fixed = torch.randint(0, 16, (batch,))

    def compute_only() -> None:
        train_step(model, optimizer, x_fixed, y_fixed)

    def end_to_end():
        order = rng.permutation(len(tiles))
        loader = iter(BatchLoader(tiles, make_batches(order, batch)))
        generator = torch.Generator().manual_seed(0)

        def step() -> None:
            nonlocal loader
            try:
                _, raw = next(loader)
            except StopIteration:
                loader = iter(BatchLoader(tiles, make_batches(rng.permutation(len(tiles)), batch)))
                _, raw = next(loader)
            x = transform.train(raw, generator)
            train_step(model, optimizer, x, y_fixed[: len(x)])

        return step

    # interleave the two measurements so that load from other users hits both alike
    ratios, e2e, compute = [], [], []
    for _ in range(repeats):
        c = images_per_second(compute_only, batches, batch)
        e = images_per_second(end_to_end(), batches, batch)
        compute.append(c)
        e2e.append(e)
        ratios.append(e / c)
    print(
        f"(a) data-path efficiency, small net, {tile} px tiles -> {size} px input, batch {batch}, "
        f"{batches} batches x {repeats}"
    )
    print(f"    compute only (random tensors):  {np.median(compute):8.1f} img/s")
    print(f"    end to end (memmap + augment):  {np.median(e2e):8.1f} img/s")
    print(
        f"    ratio end-to-end / compute-only: {np.median(ratios):.3f} (median; all: "
        + ", ".join(f"{r:.3f}" for r in ratios)
        + ")"
    )


# --- (b) against the original design -----------------------------------------------------------
class TileFolder(Dataset):
    """ImageFolder-style: one PNG per tile, PIL loading, per-image torchvision transforms."""

    def __init__(self, paths: list[Path], transform, labels: np.ndarray | None = None) -> None:
        self.paths, self.transform, self.labels = paths, transform, labels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        with open(self.paths[index], "rb") as f:
            image = Image.open(f).convert("RGB")
        label = 0 if self.labels is None else int(self.labels[index])
        return self.transform(image), label


def original_epoch(paths, size, batch, workers, k, pca_dim, seed) -> float:
    """One epoch as the reference code: DataLoader features, clustering, DataLoader training."""
    model, optimizer = small_model(k)
    normalize = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    start = time.perf_counter()
    eval_tf = transforms.Compose([transforms.Resize(size), transforms.ToTensor(), normalize])
    loader = DataLoader(TileFolder(paths, eval_tf), batch_size=batch, num_workers=workers)
    model.eval()
    chunks = []
    with torch.no_grad():
        for x, _ in loader:
            chunks.append(model.embed(x.contiguous(memory_format=CHANNELS_LAST)).numpy())
    model.train()
    labels = cluster_features(np.concatenate(chunks), "Kmeans", k, pca_dim, seed).labels
    train_tf = transforms.Compose(
        [
            transforms.RandomResizedCrop(size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            normalize,
        ]
    )
    sample = uniform_label_sample(labels, len(paths), np.random.default_rng(seed))
    dataset = TileFolder([paths[i] for i in sample], train_tf, labels[sample])
    for x, y in DataLoader(dataset, batch_size=batch, num_workers=workers, shuffle=False):
        train_step(model, optimizer, x.contiguous(memory_format=CHANNELS_LAST), y)
    return time.perf_counter() - start


def our_epoch(tiles: np.ndarray, size, batch, workers, k, pca_dim, seed) -> float:
    """One epoch with this package's data path (memmap, batched augmentation, prefetch)."""
    tile = tiles.shape[1]
    model, optimizer = small_model(k)
    transform = BatchTransform((tile, tile), size, torch.device("cpu"), channels_last=True)
    start = time.perf_counter()
    features = np.empty((len(tiles), model.feature_dim), np.float32)
    model.eval()
    with torch.inference_mode():
        for idx, raw in BatchLoader(tiles, make_batches(np.arange(len(tiles)), batch), workers):
            features[idx[0] : idx[-1] + 1] = model.embed(transform.eval(raw)).numpy()
    model.train()
    labels = cluster_features(features, "Kmeans", k, pca_dim, seed).labels
    sample = uniform_label_sample(labels, len(tiles), np.random.default_rng(seed))
    targets = torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(seed)
    for idx, raw in BatchLoader(tiles, make_batches(sample, batch), workers):
        train_step(model, optimizer, transform.train(raw, generator), targets[idx])
    return time.perf_counter() - start


def against_original(tiles: np.ndarray, size: int, batch: int, repeats: int) -> None:
    k, pca_dim, seed = 16, 32, 0
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, tile in enumerate(tiles):
            path = Path(tmp) / "tiles" / f"{i // 1000:04d}" / f"tile_{i:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(tile).save(path)
            paths.append(path)
        npy = Path(tmp) / "tiles.npy"
        np.save(npy, tiles)
        memmap = np.load(npy, mmap_mode="r")
        rows = {"ours (workers 0)": [], "original (workers 0)": [], "original (workers 2)": []}
        for _ in range(repeats):  # interleaved against background load
            rows["ours (workers 0)"].append(our_epoch(memmap, size, batch, 0, k, pca_dim, seed))
            rows["original (workers 0)"].append(
                original_epoch(paths, size, batch, 0, k, pca_dim, seed)
            )
            rows["original (workers 2)"].append(
                original_epoch(paths, size, batch, 2, k, pca_dim, seed)
            )
    ours = np.median(rows["ours (workers 0)"])
    print(
        f"(b) one DeepCluster epoch (features + k-means + training), {len(tiles)} tiles of "
        f"{tiles.shape[1]} px -> {size} px input,"
        f" small net, batch {batch}, median of {repeats}"
    )
    for name, times in rows.items():
        print(
            f"    {name:22s} {np.median(times):7.2f} s   ratio to ours: {np.median(times) / ours:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=2048)
    parser.add_argument("--size", type=int, default=64, help="tile side in px")
    parser.add_argument("--input", type=int, default=None, help="model input side (default: tile)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--batches", type=int, default=12, help="timed batches per measurement in (a)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, CPU")
    tiles = synthetic_tiles(args.tiles, args.size)
    size = args.input or args.size
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "tiles.npy", tiles)
        memmap = np.load(Path(tmp) / "tiles.npy", mmap_mode="r")
        data_path_efficiency(memmap, size, args.batch, args.batches, args.repeats)
    against_original(tiles, size, args.batch, args.repeats)


if __name__ == "__main__":
    main()
