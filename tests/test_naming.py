"""Tests of descriptive cluster names derived from covariate profiles."""

import numpy as np
import pandas as pd
import pytest

from satcluster.naming import derive_names, describe, quantile_profile


def profile(**values: float) -> pd.Series:
    return pd.Series(values, dtype=float)


NO_ROADS = profile(road_length_m=0.3)


@pytest.mark.parametrize(
    ("ranks", "medians", "built_share", "built_rank", "expected"),
    [
        (NO_ROADS, profile(ndvi_mean=-0.2, road_length_m=0), 0.0, np.nan, "water"),
        (NO_ROADS, profile(ndvi_mean=0.7, road_length_m=0), 0.1, 0.2, "dense vegetation"),
        (NO_ROADS, profile(ndvi_mean=0.4, road_length_m=0), 0.0, np.nan, "light vegetation"),
        (NO_ROADS, profile(ndvi_mean=0.15, road_length_m=0), 0.0, np.nan, "empty land"),
        # the typical tile has a road of above-median length
        (profile(road_length_m=0.6), profile(ndvi_mean=0.1, road_length_m=40), 0.1, 0.2, "roads"),
        (
            profile(road_length_m=0.6),
            profile(ndvi_mean=0.25, road_length_m=40),
            0.4,  # fewer than half of the tiles have buildings
            0.2,
            "roads, sparse buildings",
        ),
        (
            profile(road_length_m=0.9),  # streets of dense districts are not mentioned
            profile(ndvi_mean=0.1, road_length_m=60),
            0.95,
            0.8,
            "dense buildings, low NDVI",
        ),
        (NO_ROADS, profile(ndvi_mean=0.5, road_length_m=0), 0.7, 0.3, "buildings among vegetation"),
        (NO_ROADS, profile(ndvi_mean=0.25, road_length_m=0), 0.9, 0.6, "dense buildings"),
        # water with a few buildings on the shore is still water
        (NO_ROADS, profile(ndvi_mean=-0.3, road_length_m=0), 0.2, 0.5, "water"),
        # no building data (NaN share): NDVI and roads alone
        (NO_ROADS, profile(ndvi_mean=-0.1), np.nan, np.nan, "water"),
        (NO_ROADS, profile(ndvi_mean=0.65), np.nan, np.nan, "dense vegetation"),
        (NO_ROADS, profile(ndvi_mean=0.1), np.nan, np.nan, "low NDVI"),
        (NO_ROADS, profile(ndvi_mean=0.25), np.nan, np.nan, "mixed"),
        # no NDVI data
        (NO_ROADS, profile(road_length_m=0), 0.9, 0.9, "dense buildings"),
    ],
)
def test_describe_hand_made_profiles(ranks, medians, built_share, built_rank, expected):
    assert describe(ranks, medians, built_share, built_rank) == expected


def test_quantile_profile_is_median_percentile_rank():
    covariates = pd.DataFrame({"x": [1.0, 2, 3, 4], "y": [4.0, np.nan, 2, 1]})
    labels = pd.Series([0, 0, 1, 1])
    # x ranks: .25 .5 .75 1; y ranks over its 3 values: 1, NaN, 2/3, 1/3
    expected = pd.DataFrame({"x": [0.375, 0.875], "y": [1.0, 0.5]}, index=[0, 1])
    pd.testing.assert_frame_equal(quantile_profile(covariates, labels), expected)


def city_tiles() -> tuple[pd.DataFrame, pd.Series]:
    """16 tiles: 0 water, 1 forest, 2 and 3 dense buildings, 4 sparse buildings on roads, 5 empty."""
    labels = pd.Series([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5])
    covariates = pd.DataFrame(
        {
            "building_area_m2": [0, 0, 0, 0, 500, 520, 510, 530, 20, 0, 0, 0, 0, 0, 0, 0],
            "building_orientation_deg": [np.nan] * 4 + [40, 42, 10, 12, 20] + [np.nan] * 7,
            "road_length_m": [0] * 4 + [60] * 4 + [30, 40, 30, 0] + [0] * 4,
            "ndvi_mean": [-0.3, -0.2, 0.8, 0.7, 0.05, 0.06, 0.05, 0.06, 0.22, 0.22]
            + [0.22, 0.22, 0.1, 0.12, 0.15, 0.16],
        }
    )
    return covariates, labels


def test_derive_names_tells_apart_by_orientation():
    covariates, labels = city_tiles()
    # built tiles: all of clusters 2 and 3 and one of four (25 %) of cluster 4 -> sparse.
    # Built-area ranks among the 5 built tiles: cluster 2 (2 + 4)/2/5 = 0.6 and
    # cluster 3 (3 + 5)/2/5 = 0.8: both dense, NDVI < 0.2 -> same name, told apart by
    # orientation (41 and 11 deg). Road ranks: zeros 1-9 (5/16), 30 m 10.5/16, 40 m 12/16,
    # 60 m 13.5/16: cluster 4 median rank (10.5 + 10.5)/2/16 = 0.66 with a median road of
    # 30 m -> "roads"; dense clusters' streets are not mentioned.
    assert derive_names(covariates, labels) == {
        0: "water",
        1: "dense vegetation",
        2: "dense buildings, low NDVI, oriented 41 deg",
        3: "dense buildings, low NDVI, oriented 11 deg",
        4: "roads, sparse buildings",
        5: "empty land",
    }


def test_derive_names_appends_id_when_orientation_does_not_differ():
    covariates, labels = city_tiles()
    covariates["building_orientation_deg"] = covariates["building_orientation_deg"].clip(upper=12)
    names = derive_names(covariates, labels)
    assert names[2] == "dense buildings, low NDVI (2)"
    assert names[3] == "dense buildings, low NDVI (3)"
    assert len(set(names.values())) == 6


def test_derive_names_without_covariates_uses_ids():
    labels = pd.Series([1, 0, 1])
    assert derive_names(pd.DataFrame(index=range(3)), labels) == {0: "cluster 0", 1: "cluster 1"}
