"""The mean of a per-tile value in every cluster, for cluster ids 0..k-1."""

from __future__ import annotations

import numpy as np

__all__ = ["cluster_means"]


def cluster_means(
    labels: np.ndarray, values: np.ndarray, k: int, empty: float = np.nan
) -> np.ndarray:
    """Mean of ``values`` over each cluster's tiles that have one (not NaN); ``empty`` where none.

    Used for the clusters' order (mean PC1, ``empty`` = inf so that empty clusters sort
    last) and for their mean confidence (NaN for a cluster without a rated tile).
    """
    labels = np.asarray(labels, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    known = ~np.isnan(values)
    sums = np.bincount(labels[known], weights=values[known], minlength=k)
    counts = np.bincount(labels[known], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, empty)
