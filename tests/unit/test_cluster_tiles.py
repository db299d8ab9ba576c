"""Tests of the clusters stage: k-means for every k with ids ordered consistently across k."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from satcluster.clustering.cluster_tiles import (
    cluster_embedding,
    cluster_tiles,
    numerical_rank,
    order_labels,
    whitened_embedding,
)
from satcluster.errors import InputError


def blobs(centres: np.ndarray, per_blob: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tight Gaussian blobs around ``centres`` (rows), shuffled: (features, true blob id)."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(centres)), per_blob)
    features = centres[truth] + rng.normal(scale=0.05, size=(len(truth), centres.shape[1]))
    order = rng.permutation(len(truth))
    return features[order].astype(np.float32), truth[order]


def nested_blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4 blobs in 2 far-apart pairs (blob b is in pair b // 2), so k = 2 and 4 are nested."""
    pairs = np.array([[-12.0, 0, 0], [-12, 3, 0], [12, 0, 0], [12, 0, 3]])
    return blobs(pairs, seed=seed)


def simplex_blobs(n_blobs: int = 4, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_blobs`` blobs at random far-apart centres: n_blobs - 1 signal dimensions."""
    centres = np.random.default_rng(seed + 100).normal(scale=10.0, size=(n_blobs, dim))
    return blobs(centres, seed=seed)


def parent_of_each_child(child: np.ndarray, parent: np.ndarray, k: int) -> np.ndarray:
    """Dominant parent of child clusters 0..k-1."""
    flows = pd.crosstab(child, parent).reindex(range(k), fill_value=0)
    return flows.to_numpy().argmax(axis=1)


def test_order_labels_smallest_k_by_pc1_then_parent():
    # pc1 = 5 6 1 2 3 4: raw k2 cluster 0 has mean 5.5, cluster 1 mean 2.5 -> swapped
    pc1 = np.array([5.0, 6, 1, 2, 3, 4])
    raw = {2: np.array([0, 0, 1, 1, 1, 1]), 3: np.array([0, 0, 2, 2, 1, 1])}
    ordered = order_labels(raw, pc1)
    np.testing.assert_array_equal(ordered[2], [1, 1, 0, 0, 0, 0])
    # k3: raw 2 (pc1 1.5) and raw 1 (pc1 3.5) are children of new parent 0, raw 0 of parent 1
    np.testing.assert_array_equal(ordered[3], [2, 2, 0, 0, 1, 1])


def test_order_labels_barycentre_breaks_ties_between_siblings():
    pc1 = np.arange(8.0)
    raw = {2: np.array([0, 0, 0, 0, 1, 1, 1, 1]), 3: np.array([0, 0, 1, 1, 0, 2, 2, 2])}
    # Q = raw 0 = {0,1,4}: parents 0,0,1 (barycentre 1/3, mean pc1 1.67);
    # P = raw 1 = {2,3}: parent 0 only (barycentre 0, mean pc1 2.5); R = raw 2: parent 1.
    # P comes before Q although its PC1 is higher, so Q's flow from parent 1 does not cross P's.
    ordered = order_labels(raw, pc1)
    np.testing.assert_array_equal(ordered[2], raw[2])
    np.testing.assert_array_equal(ordered[3], [1, 1, 0, 0, 1, 2, 2, 2])


def test_order_labels_empty_cluster_takes_last_id():
    pc1 = np.array([3.0, 2, 1])
    ordered = order_labels({3: np.array([2, 2, 0])}, pc1)  # raw cluster 1 is empty
    np.testing.assert_array_equal(ordered[3], [1, 1, 0])


def test_kmeans_recovers_nested_blobs_with_parent_ordered_ids():
    embedding, truth = nested_blobs()
    labels, centroids = cluster_embedding(embedding, [4, 2], seed=0)
    assert sorted(labels) == [2, 4]
    assert adjusted_rand_score(truth, labels[4]) == 1.0
    assert adjusted_rand_score(truth // 2, labels[2]) == 1.0
    # nested: every k4 cluster has exactly one parent, children of parent 0 come first
    parents = parent_of_each_child(labels[4], labels[2], 4)
    np.testing.assert_array_equal(parents, [0, 0, 1, 1])
    assert pd.crosstab(labels[4], labels[2]).astype(bool).sum(axis=1).eq(1).all()
    # smallest k is ordered by the mean first coordinate (the pair at x = -12 first)
    assert embedding[labels[2] == 0, 0].mean() < embedding[labels[2] == 1, 0].mean()
    assert centroids[4].shape == (4, 3)
    np.testing.assert_allclose(centroids[4][3], embedding[labels[4] == 3].mean(axis=0), rtol=1e-5)


def test_restarts_find_the_blobs_a_single_random_start_can_miss():
    from satcluster.clustering.embedding import kmeans, pca_whiten_l2

    features, truth = simplex_blobs(n_blobs=8, dim=16, seed=4)
    embedding = pca_whiten_l2(features, 7)
    single = [adjusted_rand_score(truth, kmeans(embedding, 8, seed=s)[0]) for s in range(10)]
    assert min(single) < 1.0  # a random start can put two centroids in one blob
    labels, _ = cluster_embedding(embedding, [8], seed=0, n_init=10)
    assert adjusted_rand_score(truth, labels[8]) == 1.0


def test_parent_order_holds_on_unstructured_data():
    rng = np.random.default_rng(1)
    embedding = rng.normal(size=(400, 6)).astype(np.float32)
    labels, _ = cluster_embedding(embedding, [2, 3, 5, 7], seed=3)
    for small, large in [(2, 3), (3, 5), (5, 7)]:
        parents = parent_of_each_child(labels[large], labels[small], large)
        assert np.all(np.diff(parents) >= 0)


def run_stage(tmp_path, features, ks=(2, 4), pca_dim=3, seed=0, name="out"):
    out = tmp_path / name
    features_path = tmp_path / "features.npy"
    np.save(features_path, features)
    paths = {
        "labels_path": out / "labels.parquet",
        "embedding_path": out / "embedding.npy",
        "centroids_path": out / "centroids.npz",
    }
    cluster_tiles(features_path, ks=list(ks), pca_dim=pca_dim, seed=seed, **paths)
    return paths


def test_cluster_tiles_writes_outputs_deterministically(tmp_path):
    features, truth = simplex_blobs(seed=2)
    first = run_stage(tmp_path, features.astype(np.float16), name="a")
    second = run_stage(tmp_path, features.astype(np.float16), name="b")

    labels = pd.read_parquet(first["labels_path"])
    assert list(labels.columns) == ["tile_id", "k2", "k4"]
    np.testing.assert_array_equal(labels["tile_id"], np.arange(len(truth)))
    assert all(labels[c].dtype == np.int64 for c in labels.columns)
    assert adjusted_rand_score(truth, labels["k4"]) == 1.0
    pd.testing.assert_frame_equal(labels, pd.read_parquet(second["labels_path"]))

    embedding = np.load(first["embedding_path"])
    assert embedding.dtype == np.float32 and embedding.shape == (len(truth), 3)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(embedding, np.load(second["embedding_path"]))

    with np.load(first["centroids_path"], allow_pickle=False) as centroids:
        assert sorted(centroids.files) == ["k2", "k4"]
        assert centroids["k4"].shape == (4, 3)
    assert not list(tmp_path.rglob("*.tmp*")), "temporary files left behind"


def test_cluster_tiles_rejects_more_clusters_than_tiles(tmp_path):
    features = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with pytest.raises(InputError, match="clusters.ks"):
        run_stage(tmp_path, features, ks=(2, 8), pca_dim=3)
    assert not (tmp_path / "out" / "labels.parquet").exists()


def test_cluster_tiles_rejects_non_finite_features(tmp_path):
    features = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    features[3, 1] = np.nan
    with pytest.raises(InputError, match="NaN or inf"):
        run_stage(tmp_path, features, ks=(2,), pca_dim=3)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_whitening_stops_at_the_rank_of_the_features():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(60, 2))
    # 6 columns but rank 2 (like histograms whose bins sum to one): whitening 5 dims would
    # divide by zero variance
    features = np.hstack([basis, basis @ rng.normal(size=(2, 4))]).astype(np.float32)
    assert numerical_rank(features) == 2
    embedding = whitened_embedding(features, pca_dim=5, seed=0)
    assert embedding.shape == (60, 2)
    assert np.isfinite(embedding).all()
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)


def test_cluster_means_skip_missing_values_and_mark_empty_clusters():
    from satcluster.clustering.cluster_means import cluster_means

    labels = np.array([0, 0, 2, 2, 2])
    values = np.array([1.0, 3.0, np.nan, 4.0, 6.0])
    means = cluster_means(labels, values, 4)
    assert means[0] == 2.0 and means[2] == 5.0  # the NaN tile is left out
    assert np.isnan(means[1]) and np.isnan(means[3])
    assert cluster_means(labels, values, 4, empty=np.inf)[1] == np.inf
