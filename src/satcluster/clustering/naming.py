"""Descriptive cluster names derived from the clusters' covariate profiles.

Names are suggestions for the user to edit (results/clusters/suggested_names.yaml),
so the rules are few and readable. Per cluster they use medians over its tiles:

* NDVI on its physical scale: below 0 water, below 0.2 "low NDVI" (roofs,
  asphalt, bare soil), from 0.3 light and from 0.6 dense vegetation;
* buildings relative to the city: "sparse buildings" when 25-50 % of the
  cluster's tiles have buildings; when most do, "dense buildings" if the median
  percentile rank of building area among the city's built tiles is >= 0.6,
  else "buildings"; fewer: "few buildings", or "no buildings" when none has any;
* "roads" when the typical tile has a road and road length ranks in the upper
  half of the city (not said of dense buildings, whose streets go without saying).

So: "water"; without buildings "dense vegetation", "light vegetation", "roads"
or "empty land"; with buildings e.g. "dense buildings, low NDVI",
"buildings among vegetation", "roads, sparse buildings".

Honest names: a word rests only on covariates the run has. A source left out (its
columns absent) or one that missed the city (its columns all NaN) is never named:
without NDVI there is no "water", "vegetation" or "empty land" (rather "no
buildings", "few roads"), without roads no road word, without buildings no
building word.

Distinct names: clusters that share a name get, one trait at a time, the next most
distinctive trait that exists (``naming_traits``): first the median building
orientation of built clusters (the paper's 36-degree split) when it differs by 5 degrees
or more, then the covariate whose city-wide lower / upper third splits the group most
("empty land, far from roads" and "empty land, near roads"), then comparative words
among the group ("less populated", "more populated"). A word is never added that
repeats the name ("roads" gets no "many roads"). Only clusters that no existing
covariate tells apart get their id appended, "empty land (5)".

:func:`quantile_profile` (median percentile rank per cluster) is the profile
drawn in the paper's radar charts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from satcluster.clustering.naming_traits import TRAITS, best_trait, value

__all__ = [
    "TRAITS",
    "building_level",
    "building_profile",
    "derive_names",
    "describe",
    "percentile_ranks",
    "quantile_profile",
]

WATER_NDVI = 0.0
LOW_NDVI = 0.2
LIGHT_VEGETATION_NDVI = 0.3
DENSE_VEGETATION_NDVI = 0.6
SPARSE_BUILT_SHARE = 0.25  # share of a cluster's tiles that have buildings
DENSE_BUILDINGS_RANK = 0.6  # median rank of building area among the city's built tiles
ROADS_RANK = 0.5
# "roads" says both: no "many roads" or "near roads" after it.
ROAD_WORDS = ("road_length_m", "dist_road_m")
Words = tuple[list[str], set[str]]  # a name's words and the covariates they rest on


def percentile_ranks(covariates: pd.DataFrame) -> pd.DataFrame:
    """Each column's percentile rank across tiles, in (0, 1] (ties averaged, NaN kept)."""
    return covariates.rank(pct=True)


def quantile_profile(covariates: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Median percentile rank, in (0, 1], of every covariate per cluster (rows: cluster id).

    ``labels`` holds one cluster id per row of ``covariates``.
    """
    return percentile_ranks(covariates).groupby(labels.to_numpy()).median()


def building_profile(covariates: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Per cluster: share of tiles with buildings and median built-area rank among built tiles.

    Reads the ``building_area_m2`` column (m^2 per tile); both returned columns,
    ``built_share`` and ``built_rank``, are fractions in [0, 1], NaN for a cluster
    whose tiles have no building data (a source that missed the city).
    """
    area = covariates["building_area_m2"]
    built = area.where(area > 0)
    groups = labels.to_numpy()
    return pd.DataFrame(
        {
            "built_share": (area > 0).where(area.notna()).astype(float).groupby(groups).mean(),
            "built_rank": built.rank(pct=True).groupby(groups).median(),
        }
    )


def building_level(built_share: float, built_rank: float) -> str | None:
    """'dense buildings', 'buildings', 'sparse buildings', or None (few or no buildings).

    ``built_share`` and ``built_rank`` are fractions in [0, 1], as from `building_profile`.
    """
    if not built_share >= SPARSE_BUILT_SHARE:
        return None
    if built_share < 0.5:
        return "sparse buildings"
    return "dense buildings" if built_rank >= DENSE_BUILDINGS_RANK else "buildings"


def _unbuilt(ndvi: float, roads: bool, built_share: float, road_length: float) -> Words:
    """Words of a cluster without building level (few or no buildings, or no building data)."""
    if ndvi >= DENSE_VEGETATION_NDVI:
        return ["dense vegetation"], {"ndvi_mean"}
    if ndvi >= LIGHT_VEGETATION_NDVI:
        return ["light vegetation"], {"ndvi_mean"}
    if roads:
        return ["roads"], set(ROAD_WORDS)
    buildings_known, ndvi_known = not np.isnan(built_share), not np.isnan(ndvi)
    if buildings_known and ndvi_known:  # neither built nor green
        return ["empty land"], {"ndvi_mean", "building_area_m2", "building_count"}
    if buildings_known:
        word = "no buildings" if built_share == 0 else "few buildings"
        return [word], {"building_area_m2", "building_count"}
    if ndvi_known:
        return ["low NDVI" if ndvi < LOW_NDVI else "mixed"], {"ndvi_mean"}
    if not np.isnan(road_length):
        return ["no roads" if road_length == 0 else "few roads"], {"road_length_m"}
    return [], set()


def _words(ranks: pd.Series, medians: pd.Series, built_share: float, built_rank: float) -> Words:
    """A cluster's primary words (see the module docstring) and the covariates they use."""
    ndvi = value(medians, "ndvi_mean")
    road_length = value(medians, "road_length_m")
    level = building_level(built_share, built_rank)
    if ndvi < WATER_NDVI and level is None:
        return ["water"], {"ndvi_mean"}
    roads = (
        road_length > 0
        and value(ranks, "road_length_m") >= ROADS_RANK
        and level != "dense buildings"
    )
    if level is None:
        return _unbuilt(ndvi, roads, built_share, road_length)
    words = ["roads"] if roads else []
    used = {"building_area_m2", "building_count"} | (set(ROAD_WORDS) if roads else set())
    if ndvi >= LIGHT_VEGETATION_NDVI:
        words.append(f"{level} among vegetation")
    elif ndvi < LOW_NDVI:
        words += [level, "low NDVI"]
    else:
        words.append(level)
    return words, used | ({"ndvi_mean"} if not np.isnan(ndvi) else set())


def describe(
    ranks: pd.Series, medians: pd.Series, built_share: float = np.nan, built_rank: float = np.nan
) -> str:
    """Name of one cluster from its median ranks and medians, and its building profile.

    ``ranks``: median percentile ranks in (0, 1] by covariate column; ``medians``: median
    covariate values in the columns' units (``ndvi_mean`` unitless, ``road_length_m`` in
    metres). A covariate that is absent or NaN is not used; ``built_share`` is NaN when
    there is no building data. "" when no covariate says anything.
    """
    return ", ".join(_words(ranks, medians, built_share, built_rank)[0])


def _tell_apart(
    words: dict[int, list[str]],
    used: dict[int, set[str]],
    ranks: pd.DataFrame,
    medians: pd.DataFrame,
    built: set[int],
) -> dict[int, str]:
    """Distinct names: traits added to clusters that share a name, then ids as a last resort."""
    while True:
        names = pd.Series({c: ", ".join(w) for c, w in words.items()})
        groups = [list(g.index) for _, g in names.groupby(names, sort=True) if len(g) > 1]
        split = False
        for group in groups:
            trait = best_trait(group, ranks, medians, set().union(*(used[c] for c in group)), built)
            if trait is None:
                continue
            column, trait_words = trait
            # Only a cluster that got a word has used the trait: those in its middle third
            # may still be told apart by it in comparative words.
            for c in group:
                if trait_words[c] is not None:
                    words[c].append(trait_words[c])
                    used[c].add(column)
            split = True
        if not split:  # a split adds a word and uses a trait up: at most len(TRAITS) per cluster
            break
    counts = names.value_counts()
    return {
        c: (f"{n} ({c})" if counts[n] > 1 else n) if n else f"cluster {c}" for c, n in names.items()
    }


def derive_names(covariates: pd.DataFrame, labels: pd.Series) -> dict[int, str]:
    """Unique descriptive name per cluster id in ``labels`` (aligned with ``covariates``' rows).

    Only the covariates in ``covariates`` with some value are used (see the module docstring).
    """
    ids = sorted(int(c) for c in pd.unique(labels))
    covariates = covariates.dropna(axis=1, how="all")  # a source that missed the city says nothing
    if covariates.shape[1] == 0:
        return {c: f"cluster {c}" for c in ids}
    ranks = quantile_profile(covariates, labels)
    medians = covariates.groupby(labels.to_numpy()).median()
    if "building_area_m2" in covariates:
        buildings = building_profile(covariates, labels)
    else:
        buildings = pd.DataFrame({"built_share": np.nan, "built_rank": np.nan}, index=ids)
    words, used = {}, {}
    for c in ids:
        share, rank = buildings.loc[c, ["built_share", "built_rank"]]
        words[c], used[c] = _words(ranks.loc[c], medians.loc[c], share, rank)
    built = {c for c in ids if buildings.loc[c, "built_share"] >= SPARSE_BUILT_SHARE}
    return _tell_apart(words, used, ranks, medians, built)
