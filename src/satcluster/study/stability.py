"""Which clusters hold: each cluster's stability across seeds and across spatial scales.

The best-match Jaccard index (Hennig's cluster-wise stability, as in R's clusterboot)
scores one cluster against another labelling of the same tiles; ``cluster_stability``
averages it over a study's other seeds and other scales (coarse labels carried down to the
fine tiles, see satcluster.study.comparison).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from satcluster.columns import CITY, CLUSTER
from satcluster.errors import InputError
from satcluster.study.comparison import aligned_labels, label_columns, nested_labels
from satcluster.tables import check_labels, require_columns

__all__ = ["STABILITY_COLUMNS", "Scale", "best_match_jaccard", "cluster_stability"]

STABILITY_COLUMNS = ["k", CLUSTER, "n_tiles", "seed_stability", "scale_stability"]


@dataclass(frozen=True)
class Scale:
    """One spatial scale of a study, as the comparisons across scales need it.

    ``size_px``: tile side in pixels (every scale has the same resolution, and each side is
    a whole multiple of the smallest); ``labels``: the reference seed's labels table at this
    scale (all cities); ``indexes``: city -> that city's tile index at this scale.
    """

    size_px: int
    labels: pd.DataFrame
    indexes: Mapping[str, pd.DataFrame]


def best_match_jaccard(
    reference: np.ndarray, other: np.ndarray, n_clusters: int | None = None
) -> np.ndarray:
    """For every reference cluster id, its largest Jaccard index with any cluster of ``other``.

    ``reference`` and ``other`` label the same tiles; reference ids are 0..n_clusters-1
    (default: up to the largest id), other ids are anything. Entry i is
    max_B |A_i ∩ B| / |A_i ∪ B| over the clusters B of ``other``; NaN for an empty A_i.
    Computed from the contingency table (clusters x clusters), never tiles x tiles.
    """
    reference, other = np.asarray(reference, dtype=np.int64), np.asarray(other)
    if reference.ndim != 1 or reference.shape != other.shape:
        raise ValueError(f"labellings of different shapes: {reference.shape}, {other.shape}")
    n_ref = int(reference.max()) + 1 if reference.size else 0
    n_ref = n_ref if n_clusters is None else n_clusters
    if reference.size and (reference.min() < 0 or reference.max() >= n_ref):
        raise ValueError(f"reference ids must lie in 0..{n_ref - 1}")
    best = np.full(n_ref, np.nan)
    if not reference.size:
        return best
    _, codes = np.unique(other, return_inverse=True)
    n_other = int(codes.max()) + 1
    table = np.bincount(reference * n_other + codes.ravel(), minlength=n_ref * n_other)
    table = table.reshape(n_ref, n_other)
    sizes = table.sum(axis=1)
    union = sizes[:, None] + table.sum(axis=0)[None, :] - table  # > 0: every B has a tile
    best[sizes > 0] = (table / union).max(axis=1)[sizes > 0]
    return best


def _across_scales(
    scale: Scale, other: Scale, ks: Sequence[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels of ``scale`` and of ``other`` on the finer one's tiles, every city pooled."""
    if scale.size_px == other.size_px:
        raise InputError(f"two scales with the same tile side ({scale.size_px} px).")
    fine, coarse = (scale, other) if scale.size_px < other.size_px else (other, scale)
    if fine.size_px <= 0 or coarse.size_px % fine.size_px:
        raise InputError(
            f"tile sides {fine.size_px} and {coarse.size_px} px do not nest: every scale must be a "
            "whole multiple of the smallest; fix the study's scales in the config."
        )
    require_columns(scale.labels, [CITY], "labels")
    fine_parts, coarse_parts = [], []
    for city in sorted(scale.labels[CITY].unique()):
        missing = [f"{s.size_px} px" for s in (fine, coarse) if city not in s.indexes]
        if missing:
            raise InputError(f"no tile index of {city!r} at {' and '.join(missing)}.")
        f, c = nested_labels(
            fine.indexes[city],
            fine.labels,
            coarse.indexes[city],
            coarse.labels,
            coarse.size_px // fine.size_px,
            ks,
            city,
        )
        fine_parts.append(f)
        coarse_parts.append(c)
    pooled = pd.concat(fine_parts, ignore_index=True), pd.concat(coarse_parts, ignore_index=True)
    return pooled if fine is scale else pooled[::-1]


def _mean_or_nan(scores: list[np.ndarray], n: int) -> np.ndarray:
    return np.mean(scores, axis=0) if scores else np.full(n, np.nan)


def cluster_stability(
    scale: Scale,
    other_seeds: Sequence[pd.DataFrame],
    other_scales: Sequence[Scale],
    ks: Sequence[int],
) -> pd.DataFrame:
    """Stability of every cluster of one scale's reference seed, across seeds and scales.

    Columns ``k, cluster, n_tiles, seed_stability, scale_stability``; one row per k and
    cluster id 0..k-1 of ``scale.labels`` (n_tiles: its tiles, all cities).

    * seed_stability: mean over ``other_seeds`` (labels tables of this scale, same tiles) of
      the cluster's best-match Jaccard index; NaN without other seeds.
    * scale_stability: mean over ``other_scales`` of the best-match Jaccard index computed on
      the finer scale's tiles, the coarser scale's labels carried down to them (city by city
      with ``scale.indexes`` and ``other.indexes``, then pooled: ids are shared by cities);
      NaN without other scales. ``scale.indexes`` may be empty then.

    The best-match Jaccard index (as in Hennig's cluster-wise stability, R's clusterboot) of
    cluster A is max_B |A ∩ B| / |A ∪ B| over the clusters B of the other labelling. It scores
    one cluster, not the whole partition as NMI and ARI do, so it tells which clusters hold;
    it needs no matching of ids between models; and it drops when A is split (two halves:
    0.5) as well as when A is merged into something larger. This is what the robustness claim
    is about: a cluster defined by one trait (water, dense vegetation) comes back as one
    cluster under another seed or scale (Jaccard near 1), a mixed one is cut differently each
    time (Jaccard 0.5 or lower). Across k compare the rows of different k.
    """
    tables = {"the reference seed": scale.labels}
    tables |= {f"other seed #{i + 1}": t for i, t in enumerate(other_seeds)}
    reference, *seeds = aligned_labels(tables, ks)
    across = [_across_scales(scale, other, ks) for other in other_scales]
    parts = []
    for k, col in zip(sorted(ks), label_columns(ks), strict=True):
        ids = check_labels(reference[col].to_numpy(), k, f"reference labels column {col}")
        seed_scores = [best_match_jaccard(ids, s[col].to_numpy(), k) for s in seeds]
        scale_scores = [
            best_match_jaccard(r[col].to_numpy(), o[col].to_numpy(), k) for r, o in across
        ]
        parts.append(
            pd.DataFrame(
                {
                    "k": k,
                    CLUSTER: np.arange(k),
                    "n_tiles": np.bincount(ids, minlength=k),
                    "seed_stability": _mean_or_nan(seed_scores, k),
                    "scale_stability": _mean_or_nan(scale_scores, k),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[STABILITY_COLUMNS]
