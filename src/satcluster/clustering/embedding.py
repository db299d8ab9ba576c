"""The embedding of tile features: PCA-whitening + L2, and faiss k-means on it.

Shared by DeepCluster training (pseudo-labels every epoch) and the clusters stage.

As in DeepCluster (Caron et al. 2018): PCA to ``dim`` dimensions with whitening
(eigen power -0.5), then L2-normalised rows, then faiss k-means using every
point (faiss would otherwise silently subsample to 256 points per centroid).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from satcluster.clustering.faiss_backend import load_faiss

if TYPE_CHECKING:
    import torch

__all__ = [
    "COVARIANCE_CHUNK",
    "PCA_SAMPLE",
    "covariance",
    "faiss_gpu_count",
    "index_to_gpu",
    "kmeans",
    "pca_whiten_l2",
]

log = logging.getLogger(__name__)

PCA_SAMPLE = 200_000  # PCA is fitted on at most this many rows (features of 10^6 tiles are ~16 GB)
# Rows per float64 block of the covariance: 16384 x 4096 float64 is 0.5 GB, where the whole
# 200k-row sample in float64 (twice: centred and transposed) took ~13 GB more on the GPU.
COVARIANCE_CHUNK = 16_384


def pca_whiten_l2(
    features: np.ndarray, dim: int, seed: int = 0, sample: int = PCA_SAMPLE
) -> np.ndarray:
    """PCA-whiten ``features`` (N x D) to ``min(dim, D, N-1)`` dims and L2-normalise rows.

    Fitted on a random sample of at most ``sample`` rows; applied to all rows in
    chunks so a memory-mapped float16 array never has to be held as float32 at once.
    The eigendecomposition runs in torch (on the GPU when one is visible): faiss's
    PCAMatrix took 112 s for 4096-d VGG features on 2 cores (66 s on 16), torch 12 s
    on the same 2 cores and well under a second on a GPU (BENCHMARKS.md).
    """
    import torch  # on first use: the figure jobs that import this module never pay ~2.7 s

    n, d = features.shape
    dim = int(min(dim, d, max(n - 1, 1)))
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, size=min(n, sample), replace=False))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    mean, projection = _fit_whitening(features[fit_rows], dim, device)
    out = np.empty((n, dim), dtype=np.float32)
    step = 65_536
    for start in range(0, n, step):
        # "W": a float32 slice of a read-only memmap is a non-writable view, which torch
        # will not wrap safely; np.require copies only then (or to convert float16).
        block = np.require(features[start : start + step], np.float32, ["C", "W"])
        block = torch.from_numpy(block).to(device)
        whitened = (block - mean) @ projection
        out[start : start + step] = torch.nn.functional.normalize(whitened, dim=1).cpu().numpy()
    return out


def _fit_whitening(
    fit: np.ndarray, dim: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and D x dim projection onto the top ``dim`` principal axes, scaled by eigenvalue^-0.5."""
    import torch

    # The fit rows are a fancy-indexed copy already: no second copy unless converting.
    x = torch.from_numpy(np.require(fit, np.float32, ["C", "W"])).to(device)
    mean = x.mean(dim=0)
    cov = covariance(x, mean, COVARIANCE_CHUNK)
    eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
    largest = eigvals[-1].item()
    top = eigvals.flip(0)[:dim].clamp_min(largest * 1e-12 + 1e-30)
    projection = (eigvecs.flip(1)[:, :dim] / top.sqrt()).float()
    return mean, projection


def covariance(x: torch.Tensor, mean: torch.Tensor, chunk: int = COVARIANCE_CHUNK) -> torch.Tensor:
    """Sample covariance (D x D, float64) of the rows of ``x`` about ``mean``, by ``chunk`` rows.

    float64 for the covariance and eigh: float32 loses the small eigenvalues
    that whitening divides by. Only one block of rows is centred and converted
    at a time; with a single block this is exactly the one-shot product.
    """
    import torch

    n, d = x.shape
    cov = torch.zeros((d, d), dtype=torch.float64, device=x.device)
    for start in range(0, n, chunk):
        centred = (x[start : start + chunk] - mean).double()
        cov += centred.T @ centred
    return cov / max(n - 1, 1)


def kmeans(
    x: np.ndarray, k: int, seed: int, niter: int = 20, gpu: bool | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """faiss k-means of ``x`` (N x d float32) into ``k`` clusters using all points.

    Returns (labels int64 N, centroids k x d, final objective). Runs on a GPU
    when faiss has GPU support and one is visible, unless ``gpu`` says otherwise.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    if k > n:
        raise ValueError(f"k-means: k={k} is larger than the number of points ({n})")
    faiss = load_faiss()
    use_gpu = faiss_gpu_count() > 0 if gpu is None else gpu
    clus = faiss.Clustering(d, k)
    clus.seed = int(seed)
    clus.niter = niter
    clus.max_points_per_centroid = max(n // k + 1, 256)  # use every point
    clus.min_points_per_centroid = 1
    index = faiss.IndexFlatL2(d)
    if use_gpu:
        index = index_to_gpu(index)
    clus.train(x, index)
    _, assigned = index.search(x, 1)
    centroids = faiss.vector_float_to_array(clus.centroids).reshape(k, d)
    stats = clus.iteration_stats
    objective = float(stats.at(stats.size() - 1).obj) if stats.size() else float("nan")
    return assigned.ravel().astype(np.int64), centroids, objective


def faiss_gpu_count() -> int:
    """GPUs faiss can use (0 with faiss-cpu)."""
    try:
        return int(load_faiss().get_num_gpus())
    except AttributeError:  # faiss-cpu
        return 0


def index_to_gpu(index: Any) -> Any:
    """``index`` on the current torch CUDA device only (device 0 when torch sees none).

    Not ``index_cpu_to_all_gpus``: under DDP rank 0 clusters while the other
    ranks hold their own GPUs, which it must not take memory on.
    """
    import torch

    device = torch.cuda.current_device() if torch.cuda.is_available() else 0
    faiss = load_faiss()
    resources = faiss.StandardGpuResources()
    gpu_index = faiss.index_cpu_to_gpu(resources, device, index)
    gpu_index.referenced_objects = [resources]  # the resources must outlive the index
    return gpu_index
