"""PCA-whitening + L2 and faiss k-means shared by DeepCluster and the clusters stage."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
import torch

from satcluster.clustering import embedding
from satcluster.clustering.embedding import _fit_whitening, covariance, kmeans, pca_whiten_l2
from satcluster.deepcluster.pseudolabels import pic


def _correlated(n: int = 600, d: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, d)) * np.linspace(3, 0.2, d)
    return (rng.standard_normal((n, d)) @ mixing + 5).astype(np.float32)


def test_whitening_gives_unit_covariance_before_normalisation():
    x = _correlated()
    out = pca_whiten_l2(x, 8)
    assert out.shape == (600, 8) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # Before the row normalisation the projected data is white: identity covariance.
    mean, projection = _fit_whitening(x, 8, torch.device("cpu"))
    projected = (torch.from_numpy(x) - mean) @ projection
    np.testing.assert_allclose(np.cov(projected.numpy().T), np.eye(8), atol=1e-3)


def test_matches_faiss_pca_matrix_up_to_axis_signs():
    x = _correlated()
    ours = pca_whiten_l2(x, 6)
    pca = faiss.PCAMatrix(x.shape[1], 6, -0.5)
    pca.train(x)
    ref = pca.apply_py(x)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    # Principal axes are defined up to sign: compare column by column with the sign aligned.
    signs = np.sign(np.sum(ours * ref, axis=0))
    np.testing.assert_allclose(ours * signs, ref, atol=2e-3)


@pytest.mark.filterwarnings("error::UserWarning")  # torch warns on non-writable arrays
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_read_only_memmap_input(tmp_path, dtype):
    x = _correlated()
    mm = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=dtype, shape=x.shape)
    mm[:] = x
    mm.flush()
    out = pca_whiten_l2(np.load(tmp_path / "f.npy", mmap_mode="r"), 4)
    assert out.shape == (600, 4) and np.isfinite(out).all()


def test_chunked_covariance_equals_the_one_shot_product():
    x = torch.from_numpy(_correlated(n=1000))
    mean = x.mean(dim=0)
    centred = (x - mean).double()
    one_shot = centred.T @ centred / 999
    for chunk in (1, 7, 999, 4096):
        got = covariance(x, mean, chunk)
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, one_shot, rtol=1e-10, atol=0)
    assert torch.equal(covariance(x, mean, 1000), one_shot)  # one block: the very same product


def test_whitening_converts_one_chunk_at_a_time_to_float64(monkeypatch):
    """200k x 4096 features in float64 at once would take ~13 GB of GPU memory more."""
    x = _correlated()
    whole = pca_whiten_l2(x, 8)
    converted = []
    double = torch.Tensor.double

    def recording_double(self, *args, **kwargs):
        converted.append(self.shape[0] if self.dim() else 1)
        return double(self, *args, **kwargs)

    monkeypatch.setattr(embedding, "COVARIANCE_CHUNK", 64)
    monkeypatch.setattr(torch.Tensor, "double", recording_double)
    chunked = pca_whiten_l2(x, 8)
    assert converted and max(converted) <= 64
    signs = np.sign(np.sum(chunked * whole, axis=0))  # principal axes: up to sign
    np.testing.assert_allclose(chunked * signs, whole, atol=1e-5)


@pytest.fixture
def three_gpus(monkeypatch) -> list[tuple[str, int]]:
    """faiss and torch as on a node with 3 GPUs, this process on cuda:2; records index moves.

    The "GPU" index stays the CPU one: what is tested is which device is asked for.
    """
    moves: list[tuple[str, int]] = []

    class Resources:
        pass

    def to_gpu(resources, device, index):
        assert isinstance(resources, Resources)
        moves.append(("one", device))
        return index

    def to_all_gpus(index, *args, **kwargs):
        moves.append(("all", -1))
        return index

    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 3)
    monkeypatch.setattr(faiss, "StandardGpuResources", Resources, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", to_gpu, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", to_all_gpus)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 2)
    return moves


def test_kmeans_and_pic_use_the_current_gpu_only(three_gpus):
    """Under DDP, rank 0 clusters on its own GPU, not on those of the other ranks."""
    x = np.random.default_rng(0).standard_normal((200, 4)).astype(np.float32)
    labels, _, _ = kmeans(x, 3, seed=0)
    assert three_gpus == [("one", 2)] and labels.shape == (200,)
    pic(x)  # its k-nearest-neighbour graph
    assert three_gpus == [("one", 2), ("one", 2)]


def test_kmeans_stays_on_the_cpu_without_faiss_gpus(three_gpus, monkeypatch):
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 0)
    kmeans(np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32), 3, seed=0)
    assert three_gpus == []


def test_dim_is_capped_by_samples_and_features():
    assert pca_whiten_l2(_correlated(n=5, d=24), 16).shape == (5, 4)
    assert pca_whiten_l2(_correlated(d=3), 16).shape == (600, 3)


def test_kmeans_uses_every_point_and_recovers_blobs(capfd):
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((4, 8)) * 20
    truth = np.repeat(np.arange(4), 2000)  # 2000 points per centroid: above faiss's 256 default
    x = (centres[truth] + rng.standard_normal((8000, 8))).astype(np.float32)
    # One random start can seed two centroids in one blob: keep the best of a few, as the
    # clusters stage does (clusters.n_init).
    runs = [kmeans(x, 4, seed=seed) for seed in range(4)]
    labels, centroids, objective = min(runs, key=lambda run: run[2])
    assert "Sampling a subset" not in capfd.readouterr().out  # faiss did not subsample
    assert labels.shape == (8000,) and centroids.shape == (4, 8) and np.isfinite(objective)
    for cluster in range(4):
        assert len(np.unique(truth[labels == cluster])) == 1


def test_kmeans_rejects_more_clusters_than_points():
    with pytest.raises(ValueError, match="larger than the number of points"):
        kmeans(np.zeros((3, 2), dtype=np.float32), 4, seed=0)
