"""Comparisons within a study: seeds against seeds, scales against scales, cities side by side.

Within one (scale, seed) a cluster id means the same in every city (one model and one k-means
on the pooled tiles), so ``city_shares`` compares cities directly. Ids of different seeds or
scales come from different models: they are compared with measures blind to the ids (NMI,
ARI) or after matching the clusters (``best_match_jaccard``, ``cluster_stability``).

A *labels* table holds ``city``, ``tile_id`` and a column ``k{k}`` (ids 0..k-1) per k; a *tile
index* is one city's ``tiles/index.parquet`` at one scale (``tile_id``, ``row``, ``col``). With
a coarse side ``ratio`` times the fine one, fine tile (row, col) lies in coarse tile
(row // ratio, col // ratio) (floor division: right for negative rows and columns). Fine tiles
whose coarse tile was dropped (nodata) are left out. Functions taking tile indexes work on
one city: ``city`` picks its rows from pooled labels tables (without it, the tables must hold
one city: tile ids repeat across cities). Results list k ascending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from satcluster.columns import TILE_ID, labels_file_column
from satcluster.errors import InputError
from satcluster.evaluation import agreement
from satcluster.figures.common import check_labels
from satcluster.io import atomic_path, require_file

__all__ = [
    "CITY",
    "Scale",
    "best_match_jaccard",
    "city_shares",
    "cluster_stability",
    "coarse_labels_of_fine_tiles",
    "read_csv",
    "scale_agreement",
    "scale_flows",
    "seed_agreement",
    "write_csv",
]

CITY = "city"
ROW, COL = "row", "col"
FLOAT_FORMAT = "%.6g"
STABILITY_COLUMNS = ["k", "cluster", "n_tiles", "seed_stability", "scale_stability"]


@dataclass(frozen=True)
class Scale:
    """One spatial scale of a study, as the comparisons across scales need it.

    ``side``: tile side in pixels (every scale has the same resolution, and each side is a
    whole multiple of the smallest); ``labels``: the reference seed's labels table at this
    scale (all cities); ``indexes``: city -> that city's tile index at this scale.
    """

    side: int
    labels: pd.DataFrame
    indexes: Mapping[str, pd.DataFrame]


def _require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            f"{what} lacks column(s) {', '.join(missing)} (has {', '.join(map(str, table.columns))})."
        )


def _label_columns(ks: Sequence[int]) -> list[str]:
    return [labels_file_column(k) for k in sorted(ks)]


def _aligned(tables: Mapping[str, pd.DataFrame], ks: Sequence[int]) -> list[pd.DataFrame]:
    """The labels tables indexed and sorted by (city, tile_id); InputError unless same tiles."""
    if not tables:
        raise ValueError("no labels tables to compare")
    aligned = []
    for name, table in tables.items():
        _require_columns(table, [CITY, TILE_ID, *_label_columns(ks)], f"labels of {name}")
        aligned.append(table.set_index([CITY, TILE_ID]).sort_index()[_label_columns(ks)])
    first_name, first = next(iter(tables)), aligned[0]
    for name, table in zip(tables, aligned, strict=True):
        if not (table.index.is_unique and table.index.equals(first.index)):
            only_a = len(first.index.difference(table.index))
            only_b = len(table.index.difference(first.index))
            raise InputError(
                f"the labels of {first_name} ({len(first)} tiles) and {name} ({len(table)}) "
                f"do not hold the same (city, tile_id): {only_a} only in the first, {only_b} "
                f"only in the second (or duplicated); they must cluster the same tiles: rerun "
                "the clusters stage of both with the current tiles."
            )
    return aligned


def _agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """NMI, ARI and n_tiles of two labellings of the same tiles (NaN when there is none)."""
    if len(a) == 0:
        return {"nmi": np.nan, "ari": np.nan, "n_tiles": 0}
    return agreement(np.asarray(b), np.asarray(a))


def seed_agreement(labels: Mapping[int, pd.DataFrame], ks: Sequence[int]) -> pd.DataFrame:
    """NMI and ARI of every pair of seeds at every k: columns ``k, seed_a, seed_b, nmi, ari``.

    ``labels``: seed -> labels table (all cities) of one scale. Pairs are unordered, seed_a
    before seed_b in the mapping's order; tiles are matched on (city, tile_id). Raises
    InputError when the seeds' tables do not hold the same tiles.
    """
    seeds = list(labels)
    aligned = dict(zip(seeds, _aligned({f"seed {s}": labels[s] for s in seeds}, ks), strict=True))
    rows = [
        {"k": k, "seed_a": a, "seed_b": b, **_agreement(aligned[a][col], aligned[b][col])}
        for k, col in zip(sorted(ks), _label_columns(ks), strict=True)
        for a, b in combinations(seeds, 2)
    ]
    table = pd.DataFrame(rows, columns=["k", "seed_a", "seed_b", "nmi", "ari"])
    return table.astype({"k": "int64", "seed_a": "int64", "seed_b": "int64", "nmi": float})


def _city_rows(labels: pd.DataFrame, city: str | None, what: str) -> pd.DataFrame:
    """Rows of ``city`` (all rows when None, which then must be one city's)."""
    if city is not None:
        _require_columns(labels, [CITY], what)
        return labels[labels[CITY] == city]
    if CITY in labels and labels[CITY].nunique() > 1:
        cities = ", ".join(map(str, sorted(labels[CITY].unique())))
        raise InputError(f"{what} hold several cities ({cities}); say which one with `city`.")
    return labels


def _labels_of_index(
    index: pd.DataFrame, labels: pd.DataFrame, ks: Sequence[int], what: str, city: str | None
) -> pd.DataFrame:
    """``labels`` of ``city`` indexed by tile_id (label columns only), checked against ``index``."""
    labels = _city_rows(labels, city, f"{what} labels")
    _require_columns(labels, [TILE_ID, *_label_columns(ks)], f"{what} labels")
    _require_columns(index, [TILE_ID, ROW, COL], f"{what} tile index")
    labels = labels.set_index(TILE_ID)[_label_columns(ks)].astype(np.int64)
    ids = pd.Index(index[TILE_ID])
    if not (
        labels.index.is_unique
        and ids.is_unique
        and ids.sort_values().equals(labels.index.sort_values())
    ):
        raise InputError(
            f"{what} labels of {city or 'the city'} ({len(labels)} tiles) and its tile index "
            f"({len(ids)}) do not hold the same tile ids ({len(ids.difference(labels.index))} "
            f"without a label, {len(labels.index.difference(ids))} labels of no tile, or "
            "duplicates); they must come from the same tiles: rerun the clusters stage."
        )
    return labels


def coarse_labels_of_fine_tiles(
    fine_index: pd.DataFrame,
    coarse_index: pd.DataFrame,
    coarse_labels: pd.DataFrame,
    ratio: int,
    ks: Sequence[int],
    city: str | None = None,
) -> pd.DataFrame:
    """For every fine tile_id, the labels of the coarse tile holding it: ``tile_id, k...``.

    ``ratio``: coarse tile side / fine tile side. Fine tiles whose coarse tile is not in
    ``coarse_index`` are left out; rows are sorted by tile_id.
    """
    if int(ratio) != ratio or ratio < 1:
        raise ValueError(f"ratio must be a positive integer, got {ratio!r}")
    labels = _labels_of_index(coarse_index, coarse_labels, ks, "coarse", city)
    _require_columns(fine_index, [TILE_ID, ROW, COL], "fine tile index")
    if coarse_index.duplicated([ROW, COL]).any():
        raise InputError("the coarse tile index has several tiles in one grid cell (row, col).")
    cells = pd.DataFrame(
        {
            TILE_ID: fine_index[TILE_ID].to_numpy(np.int64),
            ROW: fine_index[ROW].to_numpy(np.int64) // int(ratio),
            COL: fine_index[COL].to_numpy(np.int64) // int(ratio),
        }
    )
    coarse = coarse_index[[TILE_ID, ROW, COL]].astype(np.int64).rename(columns={TILE_ID: "coarse"})
    joined = cells.merge(coarse, on=[ROW, COL], how="inner").sort_values(TILE_ID)
    carried = labels.loc[joined["coarse"].to_numpy()]
    return pd.DataFrame(
        {TILE_ID: joined[TILE_ID].to_numpy(), **{c: carried[c].to_numpy() for c in labels}}
    )


def _nested(
    fine_index: pd.DataFrame,
    fine_labels: pd.DataFrame,
    coarse_index: pd.DataFrame,
    coarse_labels: pd.DataFrame,
    ratio: int,
    ks: Sequence[int],
    city: str | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fine labels and carried-down coarse labels of the same fine tiles (row for row)."""
    coarse = coarse_labels_of_fine_tiles(fine_index, coarse_index, coarse_labels, ratio, ks, city)
    fine = _labels_of_index(fine_index, fine_labels, ks, "fine", city)
    return fine.loc[coarse[TILE_ID].to_numpy()].reset_index(), coarse


def scale_agreement(
    fine_index: pd.DataFrame,
    fine_labels: pd.DataFrame,
    coarse_index: pd.DataFrame,
    coarse_labels: pd.DataFrame,
    ratio: int,
    ks: Sequence[int],
    city: str | None = None,
) -> pd.DataFrame:
    """NMI and ARI of a city's fine labels against its coarse ones carried down to the fine
    tiles: columns ``k, nmi, ari, n_tiles`` (n_tiles: fine tiles with a coarse tile)."""
    fine, coarse = _nested(fine_index, fine_labels, coarse_index, coarse_labels, ratio, ks, city)
    rows = [
        {"k": k, **_agreement(fine[col].to_numpy(), coarse[col].to_numpy())}
        for k, col in zip(sorted(ks), _label_columns(ks), strict=True)
    ]
    return pd.DataFrame(rows, columns=["k", "nmi", "ari", "n_tiles"])


def scale_flows(
    fine_index: pd.DataFrame,
    fine_labels: pd.DataFrame,
    coarse_index: pd.DataFrame,
    coarse_labels: pd.DataFrame,
    ratio: int,
    k: int,
    city: str | None = None,
) -> pd.DataFrame:
    """Fine tiles of a city counted by (fine cluster, coarse cluster): ``fine, coarse, n_tiles``.

    Only pairs with tiles are listed, sorted by (fine, coarse). To pool cities, concatenate
    their flows and sum ``n_tiles`` by (fine, coarse).
    """
    fine, coarse = _nested(fine_index, fine_labels, coarse_index, coarse_labels, ratio, [k], city)
    col = labels_file_column(k)
    pairs = pd.DataFrame({"fine": fine[col].to_numpy(), "coarse": coarse[col].to_numpy()})
    return pairs.groupby(["fine", "coarse"], sort=True).size().reset_index(name="n_tiles")


def city_shares(labels: pd.DataFrame, ks: Sequence[int]) -> pd.DataFrame:
    """Share of each city's tiles in every cluster: columns ``k, city, cluster, share``.

    Every cluster 0..k-1 is listed for every city (empty ones with share 0); shares sum to 1
    per (k, city). Cities are sorted.
    """
    _require_columns(labels, [CITY, *_label_columns(ks)], "labels")
    codes, cities = pd.factorize(labels[CITY], sort=True)
    parts = []
    for k, col in zip(sorted(ks), _label_columns(ks), strict=True):
        ids = check_labels(labels[col].to_numpy(), k, f"labels column {col}")
        counts = np.bincount(codes * k + ids, minlength=len(cities) * k).reshape(-1, k)
        shares = counts / counts.sum(axis=1, keepdims=True)
        parts.append(
            pd.DataFrame(
                {
                    "k": k,
                    CITY: np.repeat(np.asarray(cities), k),
                    "cluster": np.tile(np.arange(k), len(cities)),
                    "share": shares.ravel(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


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
    if scale.side == other.side:
        raise InputError(f"two scales with the same tile side ({scale.side} px).")
    fine, coarse = (scale, other) if scale.side < other.side else (other, scale)
    if fine.side <= 0 or coarse.side % fine.side:
        raise InputError(
            f"tile sides {fine.side} and {coarse.side} px do not nest: every scale must be a "
            "whole multiple of the smallest; fix the study's scales in the config."
        )
    _require_columns(scale.labels, [CITY], "labels")
    fine_parts, coarse_parts = [], []
    for city in sorted(scale.labels[CITY].unique()):
        missing = [f"{s.side} px" for s in (fine, coarse) if city not in s.indexes]
        if missing:
            raise InputError(f"no tile index of {city!r} at {' and '.join(missing)}.")
        f, c = _nested(
            fine.indexes[city],
            fine.labels,
            coarse.indexes[city],
            coarse.labels,
            coarse.side // fine.side,
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
    reference, *seeds = _aligned(tables, ks)
    across = [_across_scales(scale, other, ks) for other in other_scales]
    parts = []
    for k, col in zip(sorted(ks), _label_columns(ks), strict=True):
        ids = check_labels(reference[col].to_numpy(), k, f"reference labels column {col}")
        seed_scores = [best_match_jaccard(ids, s[col].to_numpy(), k) for s in seeds]
        scale_scores = [
            best_match_jaccard(r[col].to_numpy(), o[col].to_numpy(), k) for r, o in across
        ]
        parts.append(
            pd.DataFrame(
                {
                    "k": k,
                    "cluster": np.arange(k),
                    "n_tiles": np.bincount(ids, minlength=k),
                    "seed_stability": _mean_or_nan(seed_scores, k),
                    "scale_stability": _mean_or_nan(scale_scores, k),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[STABILITY_COLUMNS]


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` as CSV atomically: no index, floats with 6 significant digits, NaN empty."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format=FLOAT_FORMAT)


def read_csv(path: str | Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """A table written by ``write_csv``; InputError naming the file when ``columns`` lack."""
    table = pd.read_csv(require_file(path, what))
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            f"{path} lacks column(s) {', '.join(missing)}; it must be the {what} written by "
            f"the workflow: delete it and rerun `snakemake --cores all {path}`."
        )
    return table
