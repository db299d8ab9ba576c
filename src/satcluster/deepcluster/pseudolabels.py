"""Pseudo-labels from features: PCA-whitening + L2, then k-means or PIC; balance statistics."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.metrics import normalized_mutual_info_score

from satcluster.clustering.embedding import faiss_gpu_count, index_to_gpu, kmeans, pca_whiten_l2
from satcluster.clustering.faiss_backend import load_faiss
from satcluster.deepcluster.settings import METHODS

__all__ = ["METHODS", "Clustering", "cluster_balance", "cluster_features", "nmi", "pic"]

log = logging.getLogger(__name__)

KMEANS_ITERATIONS = 20


@dataclass
class Clustering:
    labels: np.ndarray  # int64, one per tile
    loss: float  # k-means objective (0 for PIC, as in the reference code)
    n_labels: int  # size of the head: k for k-means (empty clusters included), #clusters for PIC


def cluster_features(
    features: np.ndarray, method: str, k: int, pca_dim: int, seed: int
) -> Clustering:
    """Cluster (N x D) features into pseudo-labels, as one DeepCluster epoch does."""
    x = pca_whiten_l2(features, pca_dim, seed=seed)
    if method == "Kmeans":
        labels, _, objective = kmeans(x, k, seed=seed, niter=KMEANS_ITERATIONS)
        return Clustering(labels, objective, k)
    if method == "PIC":
        labels = pic(x)
        return Clustering(labels, 0.0, int(labels.max()) + 1)
    raise ValueError(f"unknown clustering {method!r}; choose one of {', '.join(METHODS)}")


def pic(
    x: np.ndarray,
    nnn: int = 5,
    sigma: float = 0.2,
    alpha: float = 0.001,
    iterations: int = 200,
    distribute_singletons: bool = True,
) -> np.ndarray:
    """Power iteration clustering on the ``nnn``-nearest-neighbour graph of ``x`` (rows).

    As the reference PIC: Gaussian kernel exp(-d^2 / sigma^2) on k-NN edges,
    symmetrised; ``iterations`` steps of v <- alpha W v + (1 - alpha)/n, L1
    normalised; every node points to the neighbour with the largest
    w_ij (v_j - v_i) > 0 and clusters are the local maxima reached by
    following pointers. Singletons join the cluster of their nearest
    non-singleton neighbour. Returns labels 0..m-1.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    nnn = min(nnn, n - 1)
    if nnn < 1:
        return np.zeros(n, dtype=np.int64)
    neighbours, sq_dists = _knn(x, nnn + 1)
    weights = _gaussian_graph(neighbours, sq_dists, sigma)
    v = np.full(n, 1.0 / n, dtype=np.float32)
    for _ in range(iterations):
        v = alpha * (weights.T @ v) + (1.0 - alpha) / n
        v = (v / v.sum()).astype(np.float32)
    labels = _climb_to_maxima(weights, v)
    if distribute_singletons:
        labels = _distribute_singletons(labels, neighbours[:, 1:])
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def _knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    index = load_faiss().IndexFlatL2(x.shape[1])
    if faiss_gpu_count() > 0:
        index = index_to_gpu(index)  # this rank's GPU only
    index.add(x)
    sq_dists, neighbours = index.search(x, k)
    return neighbours, sq_dists


def _gaussian_graph(neighbours: np.ndarray, sq_dists: np.ndarray, sigma: float) -> csr_matrix:
    """Symmetric affinity W = A + A^T, A_ij = exp(-d_ij^2 / sigma^2) over the k-NN (self dropped)."""
    n, k1 = neighbours.shape
    k = k1 - 1
    data = np.exp(-sq_dists[:, 1:] / sigma**2).ravel()
    a = csr_matrix((data, neighbours[:, 1:].ravel(), k * np.arange(n + 1)), shape=(n, n))
    return (a + a.T).tocsr()


def _climb_to_maxima(weights: csr_matrix, v: np.ndarray) -> np.ndarray:
    """Each node follows its steepest uphill edge; the local maximum reached is its cluster."""
    n = weights.shape[0]
    rows = np.repeat(np.arange(n), np.diff(weights.indptr))
    gain = weights.data * (v[weights.indices] - v[rows])
    # first edge (in CSR order) with the largest gain per row, as the reference loop picks it
    order = np.lexsort((np.arange(len(gain)), -gain, rows))
    sorted_rows = rows[order]
    best = order[np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])]
    pointer = np.arange(n)
    uphill = gain[best] > 0
    pointer[rows[best][uphill]] = weights.indices[best][uphill]
    while True:  # pointer jumping: uphill chains end at local maxima (no cycles)
        jumped = pointer[pointer]
        if np.array_equal(jumped, pointer):
            break
        pointer = jumped
    return pointer


def _distribute_singletons(labels: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Move each singleton to the cluster of its nearest neighbour that is not a singleton."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    sizes = counts[inverse]
    singletons = np.flatnonzero(sizes == 1)
    if len(singletons) == 0:
        return labels
    candidates = neighbours[singletons]
    valid = (candidates >= 0) & (sizes[np.clip(candidates, 0, None)] != 1)
    has_home = valid.any(axis=1)
    home = candidates[np.arange(len(singletons)), valid.argmax(axis=1)]
    out = labels.copy()
    out[singletons[has_home]] = labels[home[has_home]]
    return out


def cluster_balance(labels: np.ndarray, n_labels: int) -> dict[str, float]:
    """Cluster-size balance: normalised entropy (1 = equal sizes, 0 = one cluster), largest share."""
    counts = np.bincount(labels, minlength=n_labels).astype(np.float64)
    share = counts / counts.sum()
    nonzero = share[share > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum())
    return {
        "cluster_balance": entropy / np.log(n_labels) if n_labels > 1 else 0.0,
        "largest_cluster_share": float(share.max()),
        "n_empty": int((counts == 0).sum()),
        "n_clusters": int((counts > 0).sum()),
    }


def nmi(previous: np.ndarray | None, current: np.ndarray) -> float:
    """NMI between consecutive epochs' assignments (stability, not accuracy); NaN at epoch 1."""
    if previous is None:
        return float("nan")
    return float(normalized_mutual_info_score(previous, current))
