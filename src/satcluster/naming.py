"""Descriptive cluster names derived from the clusters' covariate profiles.

Names are suggestions for the user to edit (results/clusters/suggested_names.yaml),
so the rules are few and readable. Per cluster they use medians over its tiles:

* NDVI on its physical scale: below 0 water, below 0.2 "low NDVI" (roofs,
  asphalt, bare soil), from 0.3 light and from 0.6 dense vegetation;
* buildings relative to the city: "sparse buildings" when 25-50 % of the
  cluster's tiles have buildings; when most do, "dense buildings" if the median
  percentile rank of building area among the city's built tiles is >= 0.6,
  else "buildings";
* "roads" when the typical tile has a road and road length ranks in the upper
  half of the city (not said of dense buildings, whose streets go without saying).

So: "water"; without buildings "dense vegetation", "light vegetation", "roads"
or "empty land"; with buildings e.g. "dense buildings, low NDVI",
"buildings among vegetation", "roads, sparse buildings". Clusters that end up
with the same name are told apart by their median building orientation (the
paper's 36-degree split) when it differs, else by their id. A covariate that is
absent (source not configured) is skipped.

:func:`quantile_profile` (median percentile rank per cluster) is the profile
drawn in the paper's radar charts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
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
MIN_ORIENTATION_GAP_DEG = 5.0


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
    ``built_share`` and ``built_rank``, are fractions in [0, 1].
    """
    area = covariates["building_area_m2"]
    built = area.where(area > 0)
    groups = labels.to_numpy()
    return pd.DataFrame(
        {
            "built_share": (area > 0).groupby(groups).mean(),
            "built_rank": built.rank(pct=True).groupby(groups).median(),
        }
    )


def _value(row: pd.Series, column: str) -> float:
    return float(row[column]) if column in row.index and pd.notna(row[column]) else np.nan


def building_level(built_share: float, built_rank: float) -> str | None:
    """'dense buildings', 'buildings', 'sparse buildings', or None (few or no buildings).

    ``built_share`` and ``built_rank`` are fractions in [0, 1], as from `building_profile`.
    """
    if not built_share >= SPARSE_BUILT_SHARE:
        return None
    if built_share < 0.5:
        return "sparse buildings"
    return "dense buildings" if built_rank >= DENSE_BUILDINGS_RANK else "buildings"


def _unbuilt_name(ndvi: float, roads: bool, buildings_known: bool) -> str:
    if ndvi >= DENSE_VEGETATION_NDVI:
        return "dense vegetation"
    if ndvi >= LIGHT_VEGETATION_NDVI:
        return "light vegetation"
    if roads:
        return "roads"
    if buildings_known:
        return "empty land"
    return "low NDVI" if ndvi < LOW_NDVI else "mixed"


def describe(
    ranks: pd.Series, medians: pd.Series, built_share: float = np.nan, built_rank: float = np.nan
) -> str:
    """Name of one cluster from its median ranks and medians, and its building profile.

    ``ranks``: median percentile ranks in (0, 1] by covariate column; ``medians``: median
    covariate values in the columns' units (``ndvi_mean`` unitless, ``road_length_m`` in
    metres). ``built_share`` is NaN when there is no building data.
    """
    ndvi = _value(medians, "ndvi_mean")
    level = building_level(built_share, built_rank)
    if ndvi < WATER_NDVI and level is None:
        return "water"
    roads = (
        _value(medians, "road_length_m") > 0
        and _value(ranks, "road_length_m") >= ROADS_RANK
        and level != "dense buildings"
    )
    if level is None:
        return _unbuilt_name(ndvi, roads, buildings_known=not np.isnan(built_share))
    parts = ["roads"] if roads else []
    if ndvi >= LIGHT_VEGETATION_NDVI:
        parts.append(f"{level} among vegetation")
    elif ndvi < LOW_NDVI:
        parts += [level, "low NDVI"]
    else:
        parts.append(level)
    return ", ".join(parts)


def _tell_apart(names: dict[int, str], medians: pd.DataFrame, built: pd.Series) -> dict[int, str]:
    """Make names unique: by median building orientation when it differs, else by id."""
    names = dict(names)
    for name in sorted(set(names.values())):
        same = [c for c in names if names[c] == name]
        if len(same) < 2 or not all(built.get(c, False) for c in same):
            continue
        orientation = np.array([_value(medians.loc[c], "building_orientation_deg") for c in same])
        if np.isnan(orientation).any():
            continue
        if (np.diff(np.sort(orientation)) >= MIN_ORIENTATION_GAP_DEG).all():
            for c, deg in zip(same, orientation, strict=True):
                names[c] = f"{name}, oriented {deg:.0f} deg"
    counts = pd.Series(names).value_counts()
    return {c: f"{n} ({c})" if counts[n] > 1 else n for c, n in names.items()}


def derive_names(covariates: pd.DataFrame, labels: pd.Series) -> dict[int, str]:
    """Unique descriptive name per cluster id in ``labels`` (aligned with ``covariates``' rows)."""
    ids = sorted(int(c) for c in pd.unique(labels))
    if covariates.shape[1] == 0:
        return {c: f"cluster {c}" for c in ids}
    ranks = quantile_profile(covariates, labels)
    medians = covariates.groupby(labels.to_numpy()).median()
    if "building_area_m2" in covariates:
        buildings = building_profile(covariates, labels)
    else:
        buildings = pd.DataFrame({"built_share": np.nan, "built_rank": np.nan}, index=ids)
    names = {
        c: describe(ranks.loc[c], medians.loc[c], *buildings.loc[c, ["built_share", "built_rank"]])
        for c in ids
    }
    built = buildings["built_share"] >= SPARSE_BUILT_SHARE
    return _tell_apart(names, medians, built)
