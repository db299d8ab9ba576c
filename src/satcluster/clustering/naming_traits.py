"""Traits that tell apart clusters sharing a name (see ``satcluster.clustering.naming``).

A trait is one covariate and its words: where the cluster's median percentile rank lies
in the city (lower or upper third; "no ..." when the median amount is 0), or, when no
third tells the clusters apart, where it lies among them ("more ...", "fewer ...").
The median building orientation of built clusters comes first (the paper's 36-degree
split) when the clusters' orientations differ by ``MIN_ORIENTATION_GAP_DEG`` or more.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "HIGH_RANK",
    "LOW_RANK",
    "MIN_COMPARATIVE_SPREAD",
    "MIN_ORIENTATION_GAP_DEG",
    "ORIENTATION",
    "TRAITS",
    "Trait",
    "best_trait",
    "comparative",
    "trait_word",
    "value",
]

MIN_ORIENTATION_GAP_DEG = 5.0
LOW_RANK, HIGH_RANK = 1 / 3, 2 / 3  # trait words: lower and upper third of the city
ORIENTATION = "building_orientation_deg"

MIN_COMPARATIVE_SPREAD = 0.05  # of median ranks, for "more ..." / "fewer ..."


class Trait(NamedTuple):
    """Words of one covariate for telling clusters apart."""

    zero: str | None  # the median amount is 0
    low: str  # median rank in the city's lower third
    high: str  # ... upper third
    less: str  # below the other clusters of the same name (when no third tells them apart)
    more: str
    built_only: bool = False  # said of clusters with buildings only (sizes of few are noise)


# Traits that tell apart clusters sharing a name, in order of preference on a tie.
TRAITS: dict[str, Trait] = {
    "road_length_m": Trait("no roads", "few roads", "many roads", "fewer roads", "more roads"),
    "dist_road_m": Trait(
        None, "near roads", "far from roads", "nearer roads", "farther from roads"
    ),
    "major_road_length_m": Trait(
        "no major roads", "few major roads", "major roads", "fewer major roads", "more major roads"
    ),
    "dist_major_road_m": Trait(
        None,
        "near a major road",
        "far from major roads",
        "nearer a major road",
        "farther from major roads",
    ),
    "building_count": Trait(
        "no buildings", "few buildings", "many buildings", "fewer buildings", "more buildings"
    ),
    "mean_building_size_m2": Trait(
        None, "small buildings", "large buildings", "smaller buildings", "larger buildings", True
    ),
    "population_density_km2": Trait(
        "unpopulated",
        "sparsely populated",
        "densely populated",
        "less populated",
        "more populated",
    ),
    "ndvi_mean": Trait(None, "barer", "greener", "less green", "more green"),
}


def value(row: pd.Series, column: str) -> float:
    """``row[column]`` as a float; NaN when absent or missing."""
    return float(row[column]) if column in row.index and pd.notna(row[column]) else np.nan


def trait_word(trait: Trait, rank: float, median: float) -> str | None:
    """A trait's word for a cluster (None: in the middle third, or unknown)."""
    if trait.zero is not None and median == 0:
        return trait.zero
    if rank < LOW_RANK:
        return trait.low
    return trait.high if rank > HIGH_RANK else None


def comparative(trait: Trait, ranks: dict[int, float]) -> dict[int, str | None]:
    """Comparative words: ``less`` below the widest gap between the clusters' ranks, ``more``
    above it (None for a cluster without a rank)."""
    known = sorted(r for r in ranks.values() if not np.isnan(r))
    gaps = np.diff(known)
    cut = known[int(np.argmax(gaps))] if len(gaps) else np.nan
    return {
        c: None if np.isnan(r) else (trait.less if r <= cut else trait.more)
        for c, r in ranks.items()
    }


def best_trait(
    group: list[int], ranks: pd.DataFrame, medians: pd.DataFrame, used: set[str], built: set[int]
) -> tuple[str, dict[int, str | None]] | None:
    """The unused trait that tells ``group`` apart best, with its word per cluster.

    First the orientation of built clusters, then the trait whose city-wide thirds split
    the group into most words (on a tie the widest spread of ranks), then the widest
    spread of ranks in comparative words; None when none tells any two clusters apart.
    """
    orientation = [value(medians.loc[c], ORIENTATION) for c in group]
    all_built = all(c in built for c in group)
    if (
        ORIENTATION in medians.columns
        and ORIENTATION not in used
        and all_built
        and not np.isnan(orientation).any()
        and (np.diff(np.sort(orientation)) >= MIN_ORIENTATION_GAP_DEG).all()
    ):
        return ORIENTATION, {
            c: f"oriented {d:.0f} deg" for c, d in zip(group, orientation, strict=True)
        }
    best, best_score, widest, widest_spread = None, (1, 0.0), None, MIN_COMPARATIVE_SPREAD
    for column, trait in TRAITS.items():
        if column not in ranks.columns or column in used or (trait.built_only and not all_built):
            continue
        group_ranks = {c: value(ranks.loc[c], column) for c in group}
        words = {
            c: trait_word(trait, r, value(medians.loc[c], column)) for c, r in group_ranks.items()
        }
        known = [r for r in group_ranks.values() if not np.isnan(r)]
        spread = max(known) - min(known) if known else 0.0
        score = (len(set(words.values())), spread)
        if score[0] > 1 and score > best_score:
            best, best_score = (column, words), score
        if spread > widest_spread or (widest is None and spread >= widest_spread):
            widest, widest_spread = (column, trait, group_ranks), spread
    if best is None and widest is not None:
        column, trait, group_ranks = widest
        best = column, comparative(trait, group_ranks)
    return best
