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
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from satcluster.clustering.agreement import agreement
from satcluster.columns import CITY, CLUSTER, COL, ROW, TILE_ID, labels_file_column
from satcluster.errors import InputError
from satcluster.io import atomic_path
from satcluster.tables import check_labels, require_columns

__all__ = [
    "aligned_labels",
    "city_shares",
    "coarse_labels_of_fine_tiles",
    "label_columns",
    "nested_labels",
    "scale_agreement",
    "scale_flows",
    "seed_agreement",
    "write_csv",
]

FLOAT_FORMAT = "%.6g"


def label_columns(ks: Sequence[int]) -> list[str]:
    return [labels_file_column(k) for k in sorted(ks)]


def aligned_labels(tables: Mapping[str, pd.DataFrame], ks: Sequence[int]) -> list[pd.DataFrame]:
    """The labels tables indexed and sorted by (city, tile_id); InputError unless same tiles."""
    if not tables:
        raise ValueError("no labels tables to compare")
    aligned = []
    for name, table in tables.items():
        require_columns(table, [CITY, TILE_ID, *label_columns(ks)], f"labels of {name}")
        aligned.append(table.set_index([CITY, TILE_ID]).sort_index()[label_columns(ks)])
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
    aligned = dict(
        zip(seeds, aligned_labels({f"seed {s}": labels[s] for s in seeds}, ks), strict=True)
    )
    rows = [
        {"k": k, "seed_a": a, "seed_b": b, **_agreement(aligned[a][col], aligned[b][col])}
        for k, col in zip(sorted(ks), label_columns(ks), strict=True)
        for a, b in combinations(seeds, 2)
    ]
    table = pd.DataFrame(rows, columns=["k", "seed_a", "seed_b", "nmi", "ari"])
    return table.astype({"k": "int64", "seed_a": "int64", "seed_b": "int64", "nmi": float})


def _city_rows(labels: pd.DataFrame, city: str | None, what: str) -> pd.DataFrame:
    """Rows of ``city`` (all rows when None, which then must be one city's)."""
    if city is not None:
        require_columns(labels, [CITY], what)
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
    require_columns(labels, [TILE_ID, *label_columns(ks)], f"{what} labels")
    require_columns(index, [TILE_ID, ROW, COL], f"{what} tile index")
    labels = labels.set_index(TILE_ID)[label_columns(ks)].astype(np.int64)
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
    require_columns(fine_index, [TILE_ID, ROW, COL], "fine tile index")
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


def nested_labels(
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
    fine, coarse = nested_labels(
        fine_index, fine_labels, coarse_index, coarse_labels, ratio, ks, city
    )
    rows = [
        {"k": k, **_agreement(fine[col].to_numpy(), coarse[col].to_numpy())}
        for k, col in zip(sorted(ks), label_columns(ks), strict=True)
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
    fine, coarse = nested_labels(
        fine_index, fine_labels, coarse_index, coarse_labels, ratio, [k], city
    )
    col = labels_file_column(k)
    pairs = pd.DataFrame({"fine": fine[col].to_numpy(), "coarse": coarse[col].to_numpy()})
    return pairs.groupby(["fine", "coarse"], sort=True).size().reset_index(name="n_tiles")


def city_shares(labels: pd.DataFrame, ks: Sequence[int]) -> pd.DataFrame:
    """Share of each city's tiles in every cluster: columns ``k, city, cluster, share``.

    Every cluster 0..k-1 is listed for every city (empty ones with share 0); shares sum to 1
    per (k, city). Cities are sorted.
    """
    require_columns(labels, [CITY, *label_columns(ks)], "labels")
    codes, cities = pd.factorize(labels[CITY], sort=True)
    parts = []
    for k, col in zip(sorted(ks), label_columns(ks), strict=True):
        ids = check_labels(labels[col].to_numpy(), k, f"labels column {col}")
        counts = np.bincount(codes * k + ids, minlength=len(cities) * k).reshape(-1, k)
        shares = counts / counts.sum(axis=1, keepdims=True)
        parts.append(
            pd.DataFrame(
                {
                    "k": k,
                    CITY: np.repeat(np.asarray(cities), k),
                    CLUSTER: np.tile(np.arange(k), len(cities)),
                    "share": shares.ravel(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` as CSV atomically: no index, floats with 6 significant digits, NaN empty.

    ``satcluster.tables.read_table`` reads it back, checking its columns.
    """
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format=FLOAT_FORMAT)
