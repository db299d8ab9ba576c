"""Final clusters: k-means of the saved DeepCluster features for every k, with readable ids.

As in the paper: features of the chosen epoch -> PCA to ``pca_dim`` with
whitening -> L2-normalised rows (the *embedding*) -> faiss k-means for each k
in ``clusters.ks``, keeping the best (lowest objective) of ``n_init`` restarts.
Whitening stops at the features' numerical rank (a direction without variance
would be divided by zero), so the embedding can have fewer than ``pca_dim``
columns, as it does when there are fewer features or tiles than ``pca_dim``.

Cluster ids are renumbered so that they read consistently across k (this is
what makes the Sankey diagram legible):

* at the smallest k, clusters are numbered by the mean first embedding
  coordinate (PC1) of their tiles, lowest first;
* at every larger k, clusters are numbered by (dominant parent, barycentre of
  parents, mean PC1), where the parents are the clusters of the previous k
  that the cluster's tiles came from: the dominant parent holds most of its
  tiles and the barycentre is the tile-weighted mean of the parents' ids.

Children of parent 0 therefore come first, then children of parent 1, and so
on; among siblings, the one fed partly by a lower parent comes first (the
barycentre heuristic of layered-graph drawing), then PC1 decides. When the
clusterings are nested the Sankey has no crossings; otherwise crossings are
few. Empty clusters (faiss can leave one empty after the final assignment)
take the last ids. Everything is deterministic for given features and seed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from satcluster.clustering.cluster_means import cluster_means
from satcluster.clustering.embedding import kmeans, pca_whiten_l2
from satcluster.columns import TILE_ID, labels_file_column
from satcluster.errors import InputError
from satcluster.io import atomic_path, require_file
from satcluster.runlog import timed

__all__ = [
    "best_kmeans",
    "cluster_centroids",
    "cluster_embedding",
    "cluster_tiles",
    "kmeans_all_ks",
    "labels_table",
    "load_features",
    "order_labels",
    "whitened_embedding",
]

log = logging.getLogger(__name__)


def best_kmeans(embedding: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray:
    """Labels of the lowest-objective faiss k-means among seeds seed .. seed + n_init - 1.

    faiss seeds k-means with randomly drawn points, which often leaves two
    centroids in one true cluster; restarts are the cheap cure (as sklearn's n_init).
    """
    best_labels, best_objective = None, np.inf
    for restart in range(n_init):
        labels, _, objective = kmeans(embedding, k, seed=seed + restart)
        if best_labels is None or objective < best_objective:
            best_labels, best_objective = labels, objective
    log.info(
        "k=%d: best objective %.4g of %d restarts, %d non-empty clusters",
        k,
        best_objective,
        n_init,
        len(np.unique(best_labels)),
    )
    return best_labels


def kmeans_all_ks(
    embedding: np.ndarray, ks: Sequence[int], seed: int, n_init: int = 10
) -> dict[int, np.ndarray]:
    """Raw faiss k-means labels of ``embedding`` for every k (ids not yet ordered)."""
    labels = {}
    for k in sorted(ks):
        with timed(log, f"k-means k={k} ({n_init} restarts)"):
            labels[k] = best_kmeans(embedding, k, seed, n_init)
    return labels


def _renumber(labels: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Relabel so that old id ``order[i]`` becomes ``i``."""
    new_id = np.empty_like(order)
    new_id[order] = np.arange(len(order))
    return new_id[labels]


def order_labels(labels_by_k: dict[int, np.ndarray], pc1: np.ndarray) -> dict[int, np.ndarray]:
    """Renumber every k's labels consistently across k (see the module docstring)."""
    ordered: dict[int, np.ndarray] = {}
    parent: np.ndarray | None = None
    for k in sorted(labels_by_k):
        labels = np.asarray(labels_by_k[k], dtype=np.int64)
        mean_pc1 = cluster_means(labels, pc1, k, empty=np.inf)
        if parent is None:
            order = np.lexsort((np.arange(k), mean_pc1))
        else:
            n_parents = int(parent.max()) + 1
            flows = np.zeros((k, n_parents), dtype=np.int64)
            np.add.at(flows, (labels, parent), 1)
            sizes = flows.sum(axis=1)
            dominant = np.where(sizes > 0, flows.argmax(axis=1), n_parents)  # ties: lowest parent
            with np.errstate(invalid="ignore", divide="ignore"):
                barycentre = np.where(sizes > 0, flows @ np.arange(n_parents) / sizes, np.inf)
            order = np.lexsort((np.arange(k), mean_pc1, barycentre, dominant))
        ordered[k] = _renumber(labels, order)
        parent = ordered[k]
    return ordered


def cluster_centroids(embedding: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean embedding row per cluster id 0..k-1 (k x d float32; NaN rows for empty clusters)."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.zeros((k, embedding.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, embedding)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / counts[:, None]).astype(np.float32)


def cluster_embedding(
    embedding: np.ndarray, ks: Sequence[int], seed: int, n_init: int = 10
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """k-means of the embedding for every k with ordered ids: (labels by k, centroids by k)."""
    labels = order_labels(kmeans_all_ks(embedding, ks, seed, n_init), embedding[:, 0])
    centroids = {k: cluster_centroids(embedding, labels[k], k) for k in labels}
    return labels, centroids


def labels_table(labels_by_k: dict[int, np.ndarray]) -> pd.DataFrame:
    """labels.parquet layout: tile_id, then one int64 column ``k{k}`` per k, ascending."""
    n = len(next(iter(labels_by_k.values())))
    table = {TILE_ID: np.arange(n, dtype=np.int64)}
    for k in sorted(labels_by_k):
        table[labels_file_column(k)] = labels_by_k[k].astype(np.int64)
    return pd.DataFrame(table)


def numerical_rank(features: np.ndarray, rel_tol: float = 1e-6, sample: int = 10_000) -> int:
    """Number of covariance eigenvalues above ``rel_tol`` x the largest (on a row sample)."""
    rows = np.sort(np.random.default_rng(0).permutation(len(features))[:sample])
    eigenvalues = np.linalg.eigvalsh(np.cov(np.asarray(features[rows], dtype=np.float64).T))
    return int((eigenvalues > rel_tol * eigenvalues.max()).sum())


def whitened_embedding(features: np.ndarray, pca_dim: int, seed: int) -> np.ndarray:
    """PCA-whitened, L2-normalised features, whitening at most their numerical rank.

    Whitening a direction without variance divides by zero (e.g. colour
    histograms sum to one; collapsed features); such directions are left out.
    """
    rank = numerical_rank(features)
    if rank == 0:
        raise InputError("the features are the same for every tile (collapsed training?).")
    if rank < min(pca_dim, features.shape[1]):
        log.warning("features have only %d independent dimensions: whitening to %d", rank, rank)
    with timed(log, f"PCA-whitening to {min(pca_dim, rank)} dims + L2"):
        embedding = pca_whiten_l2(features, min(pca_dim, rank), seed=seed)
    if not np.isfinite(embedding).all():
        raise InputError("PCA-whitening gave NaN or inf values; check the features.")
    return embedding


def all_finite(array: np.ndarray, step: int = 65_536) -> bool:
    """True when a (memory-mapped) array has no NaN or inf, checked block by block."""
    return all(np.isfinite(array[i : i + step]).all() for i in range(0, len(array), step))


def load_features(path: str | Path, ks: Sequence[int]) -> np.ndarray:
    """Memory-map features.npy (N x D) and check it can be clustered into max(ks) clusters."""
    features = np.load(require_file(path, "DeepCluster features"), mmap_mode="r")
    if features.ndim != 2:
        raise InputError(f"{path}: expected an N x D feature array, got shape {features.shape}.")
    if features.shape[0] < max(ks):
        raise InputError(
            f"config: `clusters.ks` asks for k={max(ks)} clusters but {path} holds only "
            f"{features.shape[0]} tiles; use smaller k values or more imagery."
        )
    return features


def cluster_tiles(
    features_path: str | Path,
    labels_path: str | Path,
    embedding_path: str | Path,
    centroids_path: str | Path,
    ks: Sequence[int],
    pca_dim: int,
    seed: int,
    n_init: int = 10,
) -> pd.DataFrame:
    """The clusters stage: embedding.npy, labels.parquet and centroids.npz from features.npy.

    centroids.npz holds one array ``k{k}`` (k x dim, in embedding space, rows in
    label order) per k; load it with ``np.load(path, allow_pickle=False)``.
    """
    features = load_features(features_path, ks)
    log.info("features: %d tiles x %d dims (%s)", *features.shape, features.dtype)
    if not all_finite(features):
        raise InputError(
            f"{features_path} contains NaN or inf values (diverged training?); lower "
            "`deepcluster.lr` and retrain."
        )
    embedding = whitened_embedding(features, pca_dim, seed)
    labels, centroids = cluster_embedding(embedding, ks, seed, n_init)
    table = labels_table(labels)
    with (
        atomic_path(embedding_path) as tmp_embedding,
        atomic_path(labels_path) as tmp_labels,
        atomic_path(centroids_path) as tmp_centroids,
    ):
        with open(tmp_embedding, "wb") as f:
            np.save(f, embedding)
        table.to_parquet(tmp_labels, index=False)
        with open(tmp_centroids, "wb") as f:
            np.savez(f, **{labels_file_column(k): c for k, c in centroids.items()})
    for k in sorted(labels):
        sizes = np.bincount(labels[k], minlength=k)
        log.info("k=%d cluster sizes: %s", k, sizes.tolist())
    return table
