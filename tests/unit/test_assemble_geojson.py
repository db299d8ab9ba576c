"""Tests of the assembly: one GeoJSON feature per tile with clusters, names and covariates."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml

from satcluster.assemble_geojson import assemble_geojson, read_covariates
from satcluster.errors import InputError

CRS = "EPSG:32630"
X0, Y0, SIZE = 800_000.0, 610_000.0, 32.0


@pytest.fixture
def inputs(tmp_path):
    """Six 32 m tiles in a 2 x 3 grid: clusters at k3 are water, dense buildings, forest."""
    rows, cols = np.divmod(np.arange(6), 3)
    index = gpd.GeoDataFrame(
        {
            "tile_id": np.arange(6, dtype=np.int64),
            "scene": ["scene_0"] * 3 + ["scene_1"] * 3,
            "row": rows,
            "col": cols,
            "nodata_fraction": [0.0, 0.0, 0.05, 0.0, 0.0, 0.1],
        },
        geometry=shapely.box(
            X0 + cols * SIZE, Y0 - (rows + 1) * SIZE, X0 + (cols + 1) * SIZE, Y0 - rows * SIZE
        ),
        crs=CRS,
    )
    labels = pd.DataFrame(
        {"tile_id": np.arange(6), "k2": [0, 0, 0, 0, 1, 1], "k3": [0, 0, 1, 1, 2, 2]}
    )
    buildings = pd.DataFrame(
        {
            "tile_id": np.arange(6),
            "building_area_m2": [0, 0, 400, 600, 0, 0.0],
            "building_count": [0, 0, 4, 5, 0, 0],
            "mean_building_size_m2": [np.nan, np.nan, 100, 120, np.nan, np.nan],
            "building_orientation_deg": [np.nan, np.nan, 30, 40, np.nan, np.nan],
        }
    )
    # tiles in the order of the table's rows, to check the join is by tile_id
    ndvi = pd.DataFrame(
        {
            "tile_id": [5, 4, 3, 2, 1, 0],
            "ndvi_mean": [0.8, 0.7, 0.06, 0.05, -0.1, -0.2],
            "ndvi_valid_fraction": [1.0] * 6,
        }
    )
    paths = {
        "index_path": tmp_path / "index.parquet",
        "labels_path": tmp_path / "labels.parquet",
        "covariate_paths": [tmp_path / "buildings.parquet", tmp_path / "ndvi.parquet"],
    }
    index.to_parquet(paths["index_path"])
    labels.to_parquet(paths["labels_path"])
    buildings.to_parquet(paths["covariate_paths"][0])
    ndvi.to_parquet(paths["covariate_paths"][1])
    outputs = {
        "geojson_path": tmp_path / "out" / "cluster_shapefile.geojson",
        "parquet_path": tmp_path / "out" / "cluster_shapefile.parquet",
        "names_path": tmp_path / "out" / "suggested_names.yaml",
    }
    return paths, outputs


def run(inputs, **overrides):
    paths, outputs = inputs
    args = {**paths, **outputs, "crs": CRS, "final_k": 3, "names": {}, **overrides}
    return assemble_geojson(**args)


def test_geojson_has_one_feature_per_tile_in_epsg_32630(inputs):
    run(inputs)
    _, outputs = inputs
    frame = gpd.read_file(outputs["geojson_path"])
    assert frame.crs.to_epsg() == 32630
    raw = json.loads(outputs["geojson_path"].read_text())
    assert raw["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32630"
    assert raw["name"] == "cluster_shapefile"
    assert len(frame) == 6
    assert list(frame.columns) == [
        "tile_id",
        "scene",
        "row",
        "col",
        "nodata_fraction",
        "cluster",
        "cluster_name",
        "label_k2",
        "label_k3",
        "building_area_m2",
        "building_count",
        "mean_building_size_m2",
        "building_orientation_deg",
        "ndvi_mean",
        "ndvi_valid_fraction",
        "ndvi_source",  # which product the NDVI came from: landsat or sentinel2
        "geometry",
    ]
    assert frame["cluster"].tolist() == [0, 0, 1, 1, 2, 2]
    assert frame["label_k2"].tolist() == [0, 0, 0, 0, 1, 1]
    np.testing.assert_allclose(frame["ndvi_mean"], [-0.2, -0.1, 0.05, 0.06, 0.7, 0.8])
    assert frame["mean_building_size_m2"].isna().tolist() == [True, True, False, False, True, True]
    np.testing.assert_allclose(frame.area, SIZE * SIZE)
    assert frame.geometry.iloc[4].bounds == (X0 + SIZE, Y0 - 2 * SIZE, X0 + 2 * SIZE, Y0 - SIZE)


def test_derived_names_and_suggested_names_yaml(inputs):
    run(inputs)
    _, outputs = inputs
    frame = gpd.read_file(outputs["geojson_path"])
    # water: median NDVI -0.15, no buildings; cluster 1: both tiles built, building area
    # ranks among the 2 built tiles 0.5 and 1 -> median 0.75 (dense), median NDVI 0.055 (low);
    # cluster 2: median NDVI 0.75, no buildings
    expected = {0: "water", 1: "dense buildings, low NDVI", 2: "dense vegetation"}
    assert frame["cluster_name"].tolist() == [expected[c] for c in frame["cluster"]]
    suggested = yaml.safe_load(outputs["names_path"].read_text())
    assert suggested == {str(k): v for k, v in expected.items()}
    assert outputs["names_path"].read_text().startswith("# Cluster names derived")


def test_geoparquet_twin_matches_geojson(inputs):
    run(inputs)
    _, outputs = inputs
    twin = gpd.read_parquet(outputs["parquet_path"])
    frame = gpd.read_file(outputs["geojson_path"])
    assert twin.crs.to_epsg() == 32630
    assert list(twin.columns) == list(frame.columns)
    assert twin["cluster_name"].tolist() == frame["cluster_name"].tolist()
    assert twin.geometry.equals(frame.geometry)


def test_names_from_config(inputs):
    names = {"0": "lagoon", "1": "old town", "2": "forest"}
    frame = run(inputs, names=names)
    assert frame["cluster_name"].tolist() == ["lagoon"] * 2 + ["old town"] * 2 + ["forest"] * 2
    # the suggestions are still the derived names, for comparison
    _, outputs = inputs
    assert yaml.safe_load(outputs["names_path"].read_text())["1"] == "dense buildings, low NDVI"


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ({"0": "lagoon", "1": "old town"}, r"no name for cluster id\(s\) \[2\]"),
        ({"0": "a", "1": "b", "2": "c", "7": "d"}, r"name\(s\) for id\(s\) \[7\]"),
    ],
)
def test_bad_names_stop_with_input_error_and_no_outputs(inputs, names, message):
    with pytest.raises(InputError, match=message) as err:
        run(inputs, names=names)
    assert "clusters.names" in str(err.value)
    _, outputs = inputs
    assert not any(path.exists() for path in outputs.values())


def test_other_crs_and_missing_covariate_sources(inputs):
    paths, _ = inputs
    paths["covariate_paths"] = []
    frame = run(inputs, crs="EPSG:3857", final_k=2)
    _, outputs = inputs
    read = gpd.read_file(outputs["geojson_path"])
    assert read.crs.to_epsg() == 3857
    assert "ndvi_mean" not in read.columns and "building_area_m2" not in read.columns
    assert frame["cluster"].tolist() == [0, 0, 0, 0, 1, 1]
    assert read["cluster_name"].tolist() == ["cluster 0"] * 4 + ["cluster 1"] * 2


def test_labels_of_other_tiles_are_refused(inputs):
    paths, _ = inputs
    pd.DataFrame({"tile_id": np.arange(5), "k2": 0, "k3": 0}).to_parquet(paths["labels_path"])
    with pytest.raises(InputError, match="does not match the tile index"):
        run(inputs)


@pytest.mark.parametrize("product", ["landsat", "sentinel2"])
def test_the_geojson_says_which_product_the_ndvi_came_from(tmp_path, product):
    ndvi = pd.DataFrame({"tile_id": [0, 1], "ndvi_mean": [0.1, 0.6], "ndvi_valid_fraction": 1.0})
    if product == "sentinel2":
        ndvi.attrs["ndvi_source"] = "sentinel2"  # as satcluster.covariates.sentinel2 marks it
    ndvi.to_parquet(tmp_path / "ndvi.parquet", index=False)
    buildings = pd.DataFrame({"tile_id": [0, 1], "building_count": [0, 3]})
    buildings.to_parquet(tmp_path / "buildings.parquet", index=False)
    covariates = read_covariates([tmp_path / "buildings.parquet", tmp_path / "ndvi.parquet"])
    assert covariates.attrs == {"ndvi_source": product}
    assert "ndvi_source" not in covariates.columns  # the names see numbers only
    without_ndvi = read_covariates([tmp_path / "buildings.parquet"])
    assert without_ndvi.attrs == {}


def test_consensus_confidence_at_final_k_becomes_cluster_confidence(inputs, tmp_path):
    path = tmp_path / "confidence.parquet"
    confidence = {"tile_id": [3, 2, 1, 0, 4, 5], "k2": 1.0, "k3": [0.5, 1, 1, 0.5, 1, 0.5]}
    pd.DataFrame(confidence).to_parquet(path)
    without = run(inputs)
    frame = run(inputs, confidence_path=path)
    assert frame["cluster_confidence"].tolist() == [0.5, 1, 1, 0.5, 1, 0.5]  # joined by tile_id
    assert list(frame.columns).index("cluster_confidence") == 7  # beside cluster, cluster_name
    assert frame.drop(columns="cluster_confidence").equals(without)
    geojson = json.loads(inputs[1]["geojson_path"].read_text())
    assert geojson["features"][0]["properties"]["cluster_confidence"] == 0.5


def test_confidence_without_final_k_or_of_other_tiles_is_refused(inputs, tmp_path):
    path = tmp_path / "confidence.parquet"
    pd.DataFrame({"tile_id": np.arange(6), "k2": 1.0}).to_parquet(path)
    with pytest.raises(InputError, match=r"confidence.parquet has no confidence for .*= 3"):
        run(inputs, confidence_path=path)
    pd.DataFrame({"tile_id": np.arange(5), "k3": 1.0}).to_parquet(path)
    with pytest.raises(InputError, match="rerun the consensus stage"):
        run(inputs, confidence_path=path)
    assert not inputs[1]["geojson_path"].exists()
