"""Tests of descriptive cluster names derived from covariate profiles."""

import numpy as np
import pandas as pd
import pytest

from satcluster.clustering.naming import derive_names, describe, quantile_profile


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
        # no NDVI data: no "water", "vegetation" or "empty land"
        (NO_ROADS, profile(road_length_m=0), 0.9, 0.9, "dense buildings"),
        (NO_ROADS, profile(road_length_m=0), 0.0, np.nan, "no buildings"),
        (NO_ROADS, profile(road_length_m=0), 0.1, 0.2, "few buildings"),
        (profile(road_length_m=0.6), profile(road_length_m=40), 0.0, np.nan, "roads"),
        # NDVI NaN for this cluster (clouds over all its tiles): the same
        (NO_ROADS, profile(ndvi_mean=np.nan, road_length_m=0), 0.0, np.nan, "no buildings"),
        # roads alone
        (NO_ROADS, profile(road_length_m=0), np.nan, np.nan, "no roads"),
        (NO_ROADS, profile(road_length_m=5), np.nan, np.nan, "few roads"),
        # nothing known
        (NO_ROADS, profile(), np.nan, np.nan, ""),
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


# --- honest names: only from the sources the run has -----------------------------------------

SOURCES = {
    "buildings": ["building_area_m2", "building_orientation_deg"],
    "roads": ["road_length_m", "dist_road_m"],
    "population": ["population_density_km2", "population_coverage"],
    "ndvi": ["ndvi_mean", "ndvi_valid_fraction"],
}
# Words that rest on each source: never said without it.
SOURCE_WORDS = {
    "buildings": ["building", "empty land", "oriented"],
    "roads": ["road"],
    "population": ["populated"],
    "ndvi": ["water", "vegetation", "NDVI", "empty land", "mixed", "green", "barer"],
}


def four_sources() -> tuple[pd.DataFrame, pd.Series]:
    """city_tiles with road distances, population and the sources' quality columns."""
    covariates, labels = city_tiles()
    covariates["dist_road_m"] = [400, 350, 300, 320] + [0] * 4 + [0, 0, 0, 20] + [5, 8, 90, 120]
    covariates["population_density_km2"] = [0] * 4 + [8000] * 4 + [500, 600, 0, 0] + [0] * 4
    covariates["population_coverage"] = 1.0
    covariates["ndvi_valid_fraction"] = 1.0
    return covariates, labels


@pytest.mark.parametrize("missing", list(SOURCES))
def test_names_rest_only_on_the_sources_that_exist(missing):
    covariates, labels = four_sources()
    names = derive_names(covariates.drop(columns=SOURCES[missing]), labels)
    assert len(set(names.values())) == len(names) == 6
    for name in names.values():
        assert not any(word in name for word in SOURCE_WORDS[missing]), (missing, name)


def test_names_without_ndvi_say_what_the_buildings_and_roads_say():
    covariates, labels = four_sources()
    names = derive_names(covariates.drop(columns=SOURCES["ndvi"]), labels)
    # Water (0) and forest (1) differ in nothing but NDVI: told apart by id only.
    assert names == {
        0: "no buildings, far from roads (0)",
        1: "no buildings, far from roads (1)",
        2: "dense buildings, oriented 41 deg",
        3: "dense buildings, oriented 11 deg",
        4: "roads, sparse buildings",
        5: "no buildings",
    }


def test_names_without_buildings_never_say_empty_land():
    covariates, labels = four_sources()
    names = derive_names(covariates.drop(columns=SOURCES["buildings"]), labels)
    # The two dense districts differ in buildings only; cluster 4's NDVI (0.22) ranks high.
    assert names == {
        0: "water",
        1: "dense vegetation",
        2: "roads, barer (2)",
        3: "roads, barer (3)",
        4: "roads, greener",
        5: "low NDVI",
    }


def test_a_source_that_missed_the_city_is_never_named():
    covariates, labels = four_sources()
    covariates[SOURCES["buildings"]] = np.nan  # its columns exist, all NaN
    missed = derive_names(covariates, labels)
    assert missed == derive_names(covariates.drop(columns=SOURCES["buildings"]), labels)


def test_clusters_with_the_same_dominant_trait_get_the_next_distinctive_one():
    def per_cluster(*values: float) -> list[float]:
        return [float(v) for v in values for _ in range(4)]

    labels = pd.Series(np.repeat(np.arange(6), 4))
    covariates = pd.DataFrame(
        {  # clusters 0-3 empty land (no buildings, no roads, NDVI 0.1), 4 built, 5 forest
            "building_area_m2": per_cluster(0, 0, 0, 0, 500, 0),
            "road_length_m": per_cluster(0, 0, 0, 0, 80, 0),
            "dist_road_m": per_cluster(300, 2, 60, 60, 0, 400),
            "population_density_km2": per_cluster(0, 0, 0, 900, 9000, 0),
            "ndvi_mean": per_cluster(0.1, 0.1, 0.1, 0.1, 0.05, 0.8),
        }
    )
    # Road-distance ranks of the 24 tiles: 2 m 6.5/24 (lower third: near), 60 m 12.5/24
    # (middle: no word), 300 m 18.5/24 (upper third: far). It splits the four in three,
    # more than population does (0, 0, 0, 900); population then splits clusters 2 and 3.
    assert derive_names(covariates, labels) == {
        0: "empty land, far from roads",
        1: "empty land, near roads",
        2: "empty land, unpopulated",
        3: "empty land, densely populated",
        4: "dense buildings, low NDVI",
        5: "dense vegetation",
    }


def test_comparative_words_when_no_third_of_the_city_tells_clusters_apart():
    covariates, labels = city_tiles()
    covariates = covariates.drop(columns="building_orientation_deg")
    # Clusters 2 and 3: population 7000 and 8000 per km2, both in the city's upper third.
    covariates["population_density_km2"] = [0] * 4 + [7000] * 2 + [8000] * 2 + [0] * 8
    names = derive_names(covariates, labels)
    assert names[2] == "dense buildings, low NDVI, less populated"
    assert names[3] == "dense buildings, low NDVI, more populated"


def test_identical_clusters_are_told_apart_by_id_only_as_a_last_resort():
    labels = pd.Series([0, 0, 1, 1, 2, 2])
    covariates = pd.DataFrame(
        {"building_area_m2": [0.0] * 4 + [300.0] * 2, "ndvi_mean": [0.1] * 4 + [0.05] * 2}
    )
    assert derive_names(covariates, labels) == {
        0: "empty land (0)",
        1: "empty land (1)",
        2: "dense buildings, low NDVI",
    }
