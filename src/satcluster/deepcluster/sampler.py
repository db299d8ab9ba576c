"""Which tiles each training pass sees: uniform over pseudo-labels, split across ranks."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["rank_slice", "shard_range", "uniform_label_sample"]


def uniform_label_sample(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` tile indices drawn uniformly over the non-empty pseudo-labels.

    As DeepCluster's UnifLabelSampler: ``n // #non-empty + 1`` draws per
    non-empty cluster (with replacement only when the cluster is not larger
    than that), shuffled, trimmed (or padded by repetition) to ``n``. Empty
    clusters are skipped, so a collapsed clustering cannot crash the sampler.
    """
    labels = np.asarray(labels)
    if labels.size == 0 or n <= 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    _, starts = np.unique(labels[order], return_index=True)
    members = np.split(order, starts[1:])  # one array per non-empty cluster
    per_cluster = n // len(members) + 1
    drawn = [rng.choice(m, per_cluster, replace=len(m) <= per_cluster) for m in members]
    sample = np.concatenate(drawn)
    rng.shuffle(sample)
    if len(sample) < n:
        sample = np.resize(sample, n)
    return sample[:n].astype(np.int64)


def rank_slice(sample: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's contiguous share of ``sample``, padded by wrapping so all ranks get as many."""
    per_rank = math.ceil(len(sample) / world_size)
    padded = np.resize(sample, per_rank * world_size) if len(sample) else sample
    return padded[rank * per_rank : (rank + 1) * per_rank]


def shard_range(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Contiguous [start, stop) of ``n`` items handled by ``rank`` (the last shards may be short)."""
    per_rank = math.ceil(n / world_size)
    start = min(n, rank * per_rank)
    return start, min(n, start + per_rank)
