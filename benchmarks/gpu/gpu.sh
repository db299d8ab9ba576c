#!/usr/bin/env bash
# DeepCluster on one lent GPU (H100/H200), one prepared run of about 5 minutes:
#   - VGG16-BN + Sobel at 224 px, bf16 autocast, channels_last, batch 128 (the paper's):
#     training images/s end to end (memmap of synthetic 256 px tiles -> pinned batches ->
#     batched RandomResizedCrop + flip on the GPU -> forward/backward/SGD) and compute only
#     (random tensors already on the GPU), for today's eager path and for --compile
#     (torch.compile + fused SGD, satcluster.deepcluster.speedups) in the same run, with
#     their ratio; then feature-pass images/s (eval transform + fc7), eager with a copy per
#     batch vs --compile with the overlapped copies of FeatureRows;
#   - k-means of 10^6 x 256 into k = 16, 20 iterations: faiss on the GPU when faiss has GPU
#     support (the `gpu` extra), else a torch k-means on the GPU; faiss on the CPU too.
#
#   PYTHONPATH=src bash benchmarks/gpu/gpu.sh       # on the GPU machine, from the repo root
#   PYTHONPATH=src bash benchmarks/gpu/gpu.sh --cpu # tiny CPU run that checks the script
#
# Needs python with numpy and torch; faiss is optional. Prints the device name first.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-$(command -v python3 || command -v python)}"
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
    echo "gpu.sh: $PY cannot import torch and numpy; set PYTHON=/path/to/python" >&2
    exit 1
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 420 "$PY" - "$@" <<'PYTHON'
import argparse
import os
import platform
import shutil
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from satcluster.deepcluster.data import BatchLoader, BatchTransform, make_batches
from satcluster.deepcluster.models import build_model
from satcluster.deepcluster.speedups import FeatureRows, compile_backend, compiled, set_fused

parser = argparse.ArgumentParser()
parser.add_argument("--cpu", action="store_true", help="tiny run on the CPU (checks the script)")
args = parser.parse_args()
cuda = torch.cuda.is_available() and not args.cpu
device = torch.device("cuda" if cuda else "cpu")
if cuda:
    cfg = dict(arch="vgg16", tile=256, size=224, batch=128, tiles=2048, warm=5, iters=30,
               n_km=1_000_000, workers=6)
    print(f"device: {torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} visible), "
          f"torch {torch.__version__}, CUDA {torch.version.cuda}, python {platform.python_version()}")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
else:
    cfg = dict(arch="small", tile=64, size=64, batch=32, tiles=256, warm=1, iters=3,
               n_km=20_000, workers=1)
    print(f"device: CPU ({platform.processor() or platform.machine()}), torch {torch.__version__} "
          "[--cpu check run: numbers are not the GPU benchmark]")
print(f"settings: {cfg}", flush=True)


def sync():
    if cuda:
        torch.cuda.synchronize()


def timed(step, warm, iters):
    for _ in range(warm):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    sync()
    return time.perf_counter() - start


def autocast():
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)


# --- synthetic tiles in a memmap (smooth colour fields with stripes) ----------------------------
t0 = time.perf_counter()
tmp = tempfile.mkdtemp()
path = os.path.join(tmp, "tiles.npy")
tiles = np.lib.format.open_memmap(path, "w+", np.uint8, (cfg["tiles"], cfg["tile"], cfg["tile"], 3))
rng = np.random.default_rng(0)
yy, xx = np.mgrid[0 : cfg["tile"], 0 : cfg["tile"]] / cfg["tile"]
for i in range(0, cfg["tiles"], 64):
    n = min(64, cfg["tiles"] - i)
    angle = rng.uniform(0, np.pi, (n, 1, 1))
    wave = np.sin(2 * np.pi * 6 * (xx * np.cos(angle) + yy * np.sin(angle)))
    colour = rng.uniform(40, 200, (n, 1, 1, 3))
    tiles[i : i + n] = np.clip(colour + 40 * wave[..., None], 0, 255)
tiles.flush()
del tiles
tiles = np.load(path, mmap_mode="r")
print(f"tiles: {tiles.shape} uint8 memmap written in {time.perf_counter() - t0:.1f} s", flush=True)

# --- training: end to end vs compute only, today's eager path and --compile ------------------
transform = BatchTransform((cfg["tile"], cfg["tile"]), cfg["size"], device, channels_last=cuda)
batch = cfg["batch"]
y = torch.randint(0, 16, (batch,), device=device)
backend = compile_backend(device)  # None on the CPU: --compile is then the eager path


def new_model(compile_it):
    """VGG16-BN + Sobel and its SGD as the trainer builds them, eager or with --compile."""
    net = build_model(cfg["arch"], sobel=True, num_classes=16).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-5)
    set_fused(opt, compile_it and backend is not None)
    return net, opt, compiled(net, backend if compile_it else None)


def measure_training(compile_it):
    """(compute-only, end-to-end) images/s of one model; compilation happens in the warm-up."""
    net, opt, step_net = new_model(compile_it)

    def train_step(x):
        with autocast():
            loss = F.cross_entropy(step_net(x).float(), y[: len(x)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    x_fixed = torch.randn(batch, 3, cfg["size"], cfg["size"], device=device)
    x_fixed = x_fixed.contiguous(memory_format=torch.channels_last)
    net.train()
    t_compile = time.perf_counter()
    train_step(x_fixed)
    sync()
    first = time.perf_counter() - t_compile
    compute_ips = cfg["iters"] * batch / timed(lambda: train_step(x_fixed), cfg["warm"], cfg["iters"])
    n_batches = cfg["warm"] + cfg["iters"]
    order = np.resize(rng.permutation(len(tiles)), n_batches * batch)
    stream = iter(BatchLoader(tiles, make_batches(order, batch), cfg["workers"], pin=cuda))
    generator = torch.Generator().manual_seed(0)
    e2e_ips = cfg["iters"] * batch / timed(
        lambda: train_step(transform.train(next(stream)[1], generator)), cfg["warm"], cfg["iters"]
    )
    return net, train_step, compute_ips, e2e_ips, first


paths = {}
for name, compile_it in (("eager (today's path)", False), ("--compile", True)):
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    net, train_step, compute_ips, e2e_ips, first = measure_training(compile_it)
    paths[name] = (compute_ips, e2e_ips)
    print(f"train {name}: compute only {compute_ips:8.0f} img/s; end to end {e2e_ips:8.0f} img/s "
          f"(ratio {e2e_ips / compute_ips:.3f}); first step {first:.1f} s", flush=True)
    if cuda:
        print(f"  peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB", flush=True)
(eager_compute, eager_e2e), (fast_compute, fast_e2e) = paths.values()
print(f"train --compile / eager: compute only {fast_compute / eager_compute:.2f}x, "
      f"end to end {fast_e2e / eager_e2e:.2f}x (aim: >= 3500 img/s end to end on an H100/H200)")
e2e_ips = fast_e2e
model = net  # the --compile model feeds the comparison below and the feature pass

# --- the original design feeding the same model: PNG files, PIL + per-image transforms ---------
try:
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms
except ImportError as err:
    print(f"original-design loader skipped ({err})")
else:
    class TileFolder(Dataset):
        def __init__(self, paths, transform):
            self.paths, self.transform = paths, transform

        def __len__(self):
            return len(self.paths)

        def __getitem__(self, i):
            with open(self.paths[i], "rb") as f:
                return self.transform(Image.open(f).convert("RGB")), 0

    n_png = min(len(tiles), 1024)
    paths = []
    t1 = time.perf_counter()
    for i in range(n_png):
        paths.append(os.path.join(tmp, f"tile_{i:05d}.png"))
        Image.fromarray(np.asarray(tiles[i])).save(paths[-1])
    workers = min(16, os.cpu_count() or 1)
    tf = transforms.Compose([
        transforms.RandomResizedCrop(cfg["size"]), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ])
    loader = DataLoader(TileFolder(paths, tf), batch_size=batch, shuffle=True, num_workers=workers,
                        pin_memory=cuda, drop_last=True, persistent_workers=workers > 0)

    def cycle():
        while True:
            yield from loader

    batches_png = cycle()

    def original_step():
        x, _ = next(batches_png)
        x = x.to(device, non_blocking=True)
        train_step(x.contiguous(memory_format=torch.channels_last) if cuda else x)

    seconds = timed(original_step, cfg["warm"], cfg["iters"])
    original_ips = cfg["iters"] * batch / seconds
    print(f"train, original design ({n_png} PNGs written in {time.perf_counter() - t1:.0f} s, "
          f"PIL + per-image transforms, DataLoader {workers} workers): {original_ips:8.0f} img/s "
          f"(ours end to end is {e2e_ips / original_ips:.2f}x)", flush=True)
    del loader, batches_png

# --- feature pass (eval mode, resize to input size, fc7 before ReLU): eager vs --compile ------
model.eval()
feature_batch = batch  # as the trainer (its per-process batch)
batches = make_batches(np.arange(len(tiles)), feature_batch) * 3  # three passes over the tiles
features = np.empty((len(tiles), model.feature_dim), np.float16)


def feature_pass(embed, overlap):
    """images/s of three passes; ``overlap``: FeatureRows (async copy, written a batch later)."""
    with torch.inference_mode(), autocast():
        for _, raw in BatchLoader(tiles, batches[:2], cfg["workers"], pin=cuda):  # warm-up
            embed(transform.eval(raw))
        sync()
        start = time.perf_counter()
        rows = FeatureRows(features, device) if overlap else None
        for indices, raw in BatchLoader(tiles, batches, cfg["workers"], pin=cuda):
            out = embed(transform.eval(raw))
            if rows is None:
                features[indices[0] : indices[-1] + 1] = out.float().cpu().numpy()
            else:
                rows.put(int(indices[0]), out)
        if rows is not None:
            rows.close()
        sync()
    return 3 * len(tiles) / (time.perf_counter() - start)


eager_features = feature_pass(model.embed, overlap=False)
print(f"features eager (today's path, memmap -> fc7 on host): {eager_features:8.0f} img/s", flush=True)
fast_features = feature_pass(compiled(model.embed, backend), overlap=True)
print(f"features --compile + overlapped copies: {fast_features:8.0f} img/s "
      f"({fast_features / eager_features:.2f}x; aim >= 8000 img/s)", flush=True)
del model, net
if cuda:
    torch.cuda.empty_cache()

# --- k-means of n x 256 into 16 clusters, 20 iterations -----------------------------------------
n_km, d, k = cfg["n_km"], 256, 16
centres = rng.normal(0, 1, (k, d)).astype(np.float32)
x = centres[rng.integers(0, k, n_km)] + rng.normal(0, 2, (n_km, d)).astype(np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)


def torch_kmeans(x_dev, k, iters=20, seed=0):
    g = torch.Generator(device=x_dev.device).manual_seed(seed)
    c = x_dev[torch.randperm(len(x_dev), generator=g, device=x_dev.device)[:k]].clone()
    sq = (x_dev * x_dev).sum(1, keepdim=True)
    for _ in range(iters):
        assign = (sq - 2 * x_dev @ c.T + (c * c).sum(1)).argmin(1)
        sums = torch.zeros_like(c).index_add_(0, assign, x_dev)
        counts = torch.bincount(assign, minlength=k).clamp(min=1).unsqueeze(1)
        c = sums / counts
    return assign


try:
    import faiss

    faiss_gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
except ImportError:
    faiss = None
    faiss_gpus = 0


def faiss_kmeans(gpu):
    clus = faiss.Clustering(d, k)
    clus.niter, clus.seed = 20, 0
    clus.max_points_per_centroid = n_km // k + 1  # all points, as DeepCluster
    index = faiss.IndexFlatL2(d)
    if gpu:
        index = faiss.index_cpu_to_all_gpus(index)
    clus.train(x, index)
    index.search(x, 1)


if faiss is not None:
    from satcluster.clustering.faiss_backend import installed_faiss_wheels

    print(f"faiss {faiss.__version__} from {', '.join(installed_faiss_wheels()) or '?'}, "
          f"{faiss_gpus} GPU(s) visible to it", flush=True)
if faiss is not None and faiss_gpus > 0 and cuda:
    start = time.perf_counter()
    faiss_kmeans(gpu=True)
    print(f"k-means {n_km} x {d}, k={k}, 20 it: faiss GPU {time.perf_counter() - start:6.2f} s")
else:
    why = "faiss not installed" if faiss is None else "faiss has no GPU support"
    x_dev = torch.from_numpy(x).to(device)
    torch_kmeans(x_dev[:10_000], k, iters=2)  # warm-up
    sync()
    start = time.perf_counter()
    torch_kmeans(x_dev, k)
    sync()
    print(f"k-means {n_km} x {d}, k={k}, 20 it: torch on {device.type} {time.perf_counter() - start:6.2f} s ({why})")
if faiss is not None:
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    faiss_kmeans(gpu=False)
    print(f"k-means {n_km} x {d}, k={k}, 20 it: faiss CPU ({os.cpu_count()} cores) {time.perf_counter() - start:6.2f} s")
shutil.rmtree(tmp, ignore_errors=True)
print(f"total {time.perf_counter() - t0:.0f} s")
PYTHON
