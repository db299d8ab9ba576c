"""The consensus of several seeds, on embeddings and labellings with a known answer."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from satcluster.clustering.cluster_tiles import cluster_embedding
from satcluster.clustering.consensus_clusters import (
    consensus_all_ks,
    consensus_clusters,
    joint_embedding,
    matched_labels,
    tile_confidence,
)
from satcluster.errors import InputError


def _truth(n: int = 3000, k: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, n)


def _view(truth: np.ndarray, noise: float, seed: int, dim: int = 16) -> np.ndarray:
    """One seed's embedding: the planted clusters' centres in a random rotation, plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(truth.max() + 1, dim))
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    x = (centres[truth] + rng.normal(0, noise, (len(truth), dim))) @ rotation
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _labels(embedding: np.ndarray, ks: list[int], seed: int) -> dict[int, np.ndarray]:
    """What the clusters stage gives a seed: ordered k-means labels for every k."""
    return cluster_embedding(embedding, ks, seed, n_init=3)[0]


def _permuted(labels: np.ndarray, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(labels.max() + 1)[labels]


# --- confidence: share of seeds agreeing, on constructed labellings --------------------------
def test_permuted_copies_agree_everywhere():
    truth = _truth()
    copies = [_permuted(truth, s) for s in range(4)]
    assert np.array_equal(tile_confidence(truth, copies), np.ones(len(truth)))


def test_confidence_by_hand():
    consensus = np.array([0, 0, 1, 1])
    seeds = [np.array([1, 1, 0, 0]), np.array([0, 1, 1, 1])]
    # seed b: its cluster 1 holds most of consensus 1, its cluster 0 is left for consensus 0
    assert tile_confidence(consensus, seeds).tolist() == [1.0, 0.5, 1.0, 1.0]


def test_confidence_counts_the_seeds_that_moved_a_tile():
    truth = _truth()
    rng = np.random.default_rng(3)
    moved = [rng.random(len(truth)) < 0.2 for _ in range(5)]
    copies = []
    for seed, mask in enumerate(moved):
        copy = truth.copy()
        copy[mask] = (copy[mask] + 1) % 8  # to another cluster
        copies.append(_permuted(copy, seed))
    expected = 1 - np.mean(moved, axis=0)
    assert np.allclose(tile_confidence(truth, copies), expected)


def test_matching_is_one_to_one_and_leaves_surplus_clusters_unmatched():
    reference = np.array([0, 0, 0, 1, 1, 1])
    other = np.array([2, 2, 1, 0, 0, 0])
    assert matched_labels(reference, other).tolist() == [0, 0, -1, 1, 1, 1]


# --- the consensus labels ----------------------------------------------------------------------
def test_copies_of_one_seed_give_its_clusters_back_with_full_confidence():
    truth = _truth()
    embedding = _view(truth, 0.8, seed=0)
    ks = [4, 8]
    labels = _labels(embedding, ks, seed=0)
    consensus, confidence = consensus_all_ks([embedding] * 3, [labels] * 3, ks, n_init=3)
    for k in ks:
        assert adjusted_rand_score(labels[k], consensus[k]) == 1.0
        assert (confidence[k] == 1.0).all()


def test_noisy_seeds_are_recovered_better_than_by_any_seed():
    truth = _truth()
    embeddings = [_view(truth, 1.6, seed) for seed in range(5)]
    labels = [_labels(e, [8], seed) for seed, e in enumerate(embeddings)]
    consensus, confidence = consensus_all_ks(embeddings, labels, [8], n_init=3)
    single = [adjusted_rand_score(truth, s[8]) for s in labels]
    assert adjusted_rand_score(truth, consensus[8]) > max(single) + 0.1
    assert adjusted_rand_score(truth, consensus[8]) > 0.9
    # tiles on which some seed erred are the ones with less than full confidence
    wrong = np.mean([matched_labels(truth, s[8]) != truth for s in labels], axis=0)
    assert confidence[8][wrong == 0].mean() > confidence[8][wrong >= 0.4].mean() + 0.3


def test_every_seed_weighs_the_same():
    a, b = _view(_truth(), 0.5, 0), _view(_truth(), 0.5, 1, dim=4)
    joint = joint_embedding([a, b])
    assert joint.shape == (len(a), 20) and joint.dtype == np.float32
    assert np.allclose(np.linalg.norm(joint[:, :16], axis=1), np.sqrt(0.5))
    assert np.allclose(np.linalg.norm(joint[:, 16:], axis=1), np.sqrt(0.5))


def test_ids_are_ordered_across_k_like_the_clusters_stage():
    truth = _truth(k=4)
    embeddings = [_view(truth, 0.1, seed) for seed in range(3)]
    labels = [_labels(e, [2, 4], seed) for seed, e in enumerate(embeddings)]
    consensus, _ = consensus_all_ks(embeddings, labels, [2, 4], n_init=3)
    expected = cluster_embedding(joint_embedding(embeddings), [2, 4], 0, 3)[0]
    for k in (2, 4):
        assert np.array_equal(consensus[k], expected[k])


def test_a_consensus_needs_two_seeds_of_the_same_tiles():
    with pytest.raises(ValueError, match="two or more"):
        joint_embedding([np.zeros((5, 2), np.float32)])
    with pytest.raises(ValueError, match="different numbers of tiles"):
        joint_embedding([np.zeros((5, 2), np.float32), np.zeros((4, 2), np.float32)])


def test_memory_stays_bounded_for_a_hundred_thousand_tiles():
    truth = _truth(n=100_000, k=4)
    embeddings = [_view(truth, 0.3, seed) for seed in range(3)]
    labels = [{4: _permuted(truth, seed)} for seed in range(3)]
    tracemalloc.start()
    consensus, confidence = consensus_all_ks(embeddings, labels, [4], n_init=3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # a tiles x tiles matrix would be 80 GB; the joint embedding is 19 MB
    assert peak < 200e6
    assert adjusted_rand_score(truth, consensus[4]) == 1.0 and (confidence[4] == 1).all()


# --- the stage, with files -------------------------------------------------------------------
def _write_seed(folder, truth, seed, ks):
    embedding = _view(truth, 1.0, seed, dim=8)
    labels = _labels(embedding, ks, seed)
    np.save(folder / f"embedding{seed}.npy", embedding)
    table = {"tile_id": np.arange(len(truth))} | {f"k{k}": labels[k] for k in ks}
    pd.DataFrame(table).to_parquet(folder / f"labels{seed}.parquet", index=False)
    return folder / f"embedding{seed}.npy", folder / f"labels{seed}.parquet"


def test_stage_writes_labels_and_confidence(tmp_path):
    truth = _truth(n=600, k=4)
    files = [_write_seed(tmp_path, truth, seed, [2, 4]) for seed in range(3)]
    embeddings, labels = zip(*files, strict=True)
    out_labels, out_conf = tmp_path / "labels.parquet", tmp_path / "confidence.parquet"
    consensus_clusters(embeddings, labels, out_labels, out_conf, [2, 4], seed=0, n_init=3)
    table, confidence = pd.read_parquet(out_labels), pd.read_parquet(out_conf)
    assert list(table.columns) == list(confidence.columns) == ["tile_id", "k2", "k4"]
    assert table["tile_id"].tolist() == list(range(600))
    assert adjusted_rand_score(truth, table["k4"]) > 0.9
    assert confidence["k4"].between(0, 1).all() and confidence["k4"].mean() > 0.8


def test_stage_refuses_seeds_of_different_tiles_and_writes_nothing(tmp_path):
    a = _write_seed(tmp_path, _truth(n=50, k=2), 0, [2])
    (tmp_path / "other").mkdir()
    b = _write_seed(tmp_path / "other", _truth(n=40, k=2), 1, [2])
    out = tmp_path / "labels.parquet", tmp_path / "confidence.parquet"
    with pytest.raises(InputError, match="different numbers of tiles"):
        consensus_clusters([a[0], b[0]], [a[1], b[1]], *out, [2])
    assert not any(p.exists() for p in out)


def test_stage_names_the_file_that_lacks_a_k(tmp_path):
    a = _write_seed(tmp_path, _truth(n=50, k=4), 0, [2, 4])
    (tmp_path / "other").mkdir()
    b = _write_seed(tmp_path / "other", _truth(n=50, k=4), 1, [2])
    with pytest.raises(InputError, match=r"labels1\.parquet lacks column\(s\) k4"):
        consensus_clusters([a[0], b[0]], [a[1], b[1]], tmp_path / "l", tmp_path / "c", [2, 4])


def test_stage_names_an_embedding_of_other_tiles(tmp_path):
    truth = _truth(n=50, k=2)
    a, b = (_write_seed(tmp_path, truth, seed, [2]) for seed in range(2))
    np.save(b[0], np.zeros((49, 8), np.float32))
    with pytest.raises(InputError, match=r"embedding1\.npy has shape \(49, 8\)"):
        consensus_clusters([a[0], b[0]], [a[1], b[1]], tmp_path / "l", tmp_path / "c", [2])
