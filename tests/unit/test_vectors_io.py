"""Vector file I/O: format detection, file CRS, reading with clear errors, bounds, reprojection."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import CRS

from satcluster.covariates.vectors.csv import read_wkt_csv
from satcluster.covariates.vectors.io import (
    bounds_intersect,
    file_crs,
    read_vector,
    reproject,
    require_file_crs,
    transform_bounds,
    vector_bounds,
    vector_format,
)
from satcluster.covariates.vectors.sources import expand_sources, format_bounds
from satcluster.errors import InputError

UTM = "EPSG:32630"
# Real samples beside the project (../shared/real); tests that need them skip without it.
REAL = Path(__file__).resolve().parents[3] / "shared" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"no real samples at {REAL}")
BOSTON = REAL / "boston_massachusetts"


def _squares(n: int = 3, x0: float = 805_000.0, y0: float = 611_000.0) -> gpd.GeoDataFrame:
    """``n`` 10 m squares 100 m apart in UTM 30N (near Accra)."""
    x = x0 + 100.0 * np.arange(n)
    return gpd.GeoDataFrame(
        {"id": np.arange(n)}, geometry=shapely.box(x, y0, x + 10, y0 + 10), crs=UTM
    )


def _feature_lines(frame: gpd.GeoDataFrame) -> str:
    """Line-delimited GeoJSON (one Feature per line), in lon/lat."""
    features = json.loads(frame.to_crs(4326).to_json())["features"]
    return "".join(json.dumps(feature) + "\n" for feature in features)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.gpkg", "ogr"),
        ("a.shp", "ogr"),
        ("a.fgb", "ogr"),
        ("a.parquet", "parquet"),
        ("a.geoparquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.geojsonl", "geojsonseq"),
        ("a.geojsonseq", "geojsonseq"),
        ("a.ndjson", "geojsonseq"),
        ("a.jsonl.gz", "geojsonseq"),
    ],
)
def test_format_by_suffix(name, expected):
    assert vector_format(name) == expected  # the file need not exist for these


def test_format_by_content_of_csv_and_geojson(tmp_path):
    squares = _squares()
    wkt = tmp_path / "google.csv"
    wkt.write_text("latitude,longitude,geometry\n5.5,-0.2,POINT (-0.2 5.5)\n")
    collection = tmp_path / "collection.geojson"
    squares.to_crs(4326).to_file(collection)
    sequence = tmp_path / "microsoft.geojson"
    sequence.write_text(_feature_lines(squares))
    gzipped = tmp_path / "microsoft.csv.gz"
    with gzip.open(gzipped, "wt") as stream:
        stream.write(_feature_lines(squares))
    assert vector_format(wkt) == "csv"
    assert vector_format(collection) == "ogr"
    assert vector_format(sequence) == "geojsonseq"
    assert vector_format(gzipped) == "geojsonseq"  # Microsoft ships such files as .csv.gz


def test_file_crs_of_each_format(tmp_path):
    squares = _squares()
    squares.to_file(tmp_path / "a.gpkg")
    squares.to_parquet(tmp_path / "a.parquet")
    squares.set_crs(None, allow_override=True).to_parquet(tmp_path / "unknown.parquet")
    (tmp_path / "a.geojsonl").write_text(_feature_lines(squares))
    (tmp_path / "a.csv").write_text("geometry\nPOINT (0 0)\n")
    assert file_crs(tmp_path / "a.gpkg") == CRS(UTM)
    assert file_crs(tmp_path / "a.parquet") == CRS(UTM)
    assert file_crs(tmp_path / "unknown.parquet") is None  # GeoParquet's explicit null
    assert file_crs(tmp_path / "a.geojsonl") == CRS("EPSG:4326")
    assert file_crs(tmp_path / "a.csv") == CRS("EPSG:4326")


def test_file_without_crs_is_refused_naming_it(tmp_path):
    path = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        _squares().set_crs(None, allow_override=True).to_file(path)
    assert file_crs(path) is None
    with pytest.raises(InputError, match=r"nocrs.shp has no coordinate reference system.*ogr2ogr"):
        require_file_crs(path, "buildings")
    with pytest.raises(InputError, match=r"buildings file .*nocrs.shp has no coordinate"):
        vector_bounds(path, UTM, "buildings")


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet", ".geojsonl"])
def test_read_vector_of_each_format_in_the_files_crs(tmp_path, suffix):
    squares = _squares()
    path = tmp_path / f"a{suffix}"
    if suffix == ".geojsonl":
        path.write_text(_feature_lines(squares))
        expected_crs = CRS("EPSG:4326")
    else:
        squares.to_parquet(path) if suffix == ".parquet" else squares.to_file(path)
        expected_crs = CRS(UTM)
    frame = read_vector(path)
    assert len(frame) == 3 and CRS(frame.crs) == expected_crs
    assert np.allclose(reproject(frame, UTM, path).area, 100.0)


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_read_vector_with_a_bbox_in_another_crs(tmp_path, suffix):
    squares = _squares()
    path = tmp_path / f"a{suffix}"
    squares.to_parquet(path) if suffix == ".parquet" else squares.to_file(path)
    first = transform_bounds(tuple(squares.geometry.iloc[0].bounds), UTM, "EPSG:4326")
    frame = read_vector(path, bbox=first, bbox_crs="EPSG:4326")
    assert frame["id"].tolist() == [0]


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "not found"), (b"", "empty"), (b"\x00garbage\xff" * 50, "cannot read")],
    ids=["missing", "zero-bytes", "unreadable"],
)
def test_missing_empty_or_unreadable_file_names_it(tmp_path, content, match):
    path = tmp_path / "roads.gpkg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=match) as err:
        read_vector(path, what="roads")
    assert str(path) in str(err.value) and "roads" in str(err.value)


def test_parquet_without_geo_metadata_names_the_fix(tmp_path):
    path = tmp_path / "plain.parquet"
    _squares().drop(columns="geometry").to_parquet(path)
    with pytest.raises(
        InputError, match=r"plain.parquet is Parquet without GeoParquet.*to_parquet"
    ):
        read_vector(path)


def test_plain_csv_is_pointed_to_its_reader(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("geometry\nPOINT (0 0)\n")
    with pytest.raises(InputError, match=r"a.csv is a CSV"):
        read_vector(path)
    frame, n_rows = read_wkt_csv(path)
    assert n_rows == 1 and frame.geometry.iloc[0].equals(shapely.Point(0, 0))


def test_vector_bounds_from_metadata_in_the_asked_crs(tmp_path):
    squares = _squares()
    squares.to_file(tmp_path / "a.gpkg")
    squares.to_parquet(tmp_path / "a.parquet")
    (tmp_path / "a.csv").write_text("geometry\nPOINT (0 0)\n")
    gpd.GeoDataFrame(geometry=[], crs=UTM).to_file(tmp_path / "empty.gpkg")
    expected = tuple(squares.total_bounds)
    assert vector_bounds(tmp_path / "a.gpkg", UTM) == pytest.approx(expected)
    assert vector_bounds(tmp_path / "a.parquet", UTM) == pytest.approx(expected)
    lonlat = vector_bounds(tmp_path / "a.gpkg", "EPSG:4326")
    assert bounds_intersect(lonlat, transform_bounds(expected, UTM, "EPSG:4326"))
    assert -0.3 < lonlat[0] < lonlat[2] < -0.2 and 5.5 < lonlat[1] < lonlat[3] < 5.6  # Accra
    assert vector_bounds(tmp_path / "a.csv", UTM) is None
    assert vector_bounds(tmp_path / "empty.gpkg", UTM) is None


def test_reproject_refuses_a_frame_without_crs_naming_the_file():
    frame = _squares().set_crs(None, allow_override=True)
    with pytest.raises(
        InputError, match=r"buildings file in.shp has no coordinate reference system"
    ):
        reproject(frame, UTM, "in.shp", "buildings")


def test_reproject_refuses_a_target_that_is_no_crs():
    with pytest.raises(InputError, match=r"config `crs` value 'EPSG:0' is not a CRS"):
        reproject(_squares(), "EPSG:0", "in.gpkg")


@needs_real
def test_real_buildings_crs_bounds_and_bbox_read():
    path = BOSTON / "22978945_15.gpkg"
    with rasterio.open(BOSTON / "22978945_15_uint8_clipped2.tif") as image:
        image_bounds = tuple(image.bounds)
    assert vector_format(path) == "ogr" and file_crs(path) == CRS("EPSG:26986")
    everything = read_vector(path, what="buildings")
    assert len(everything) == 441
    assert vector_bounds(path, "EPSG:26986") == pytest.approx(tuple(everything.total_bounds))
    near = read_vector(path, what="buildings", bbox=image_bounds)
    assert int(near.intersects(shapely.box(*image_bounds)).sum()) == 101  # none lost


@needs_real
def test_real_esri_wkt_is_read_as_its_epsg_crs():
    # The CRS is an ESRI-style WKT equal to EPSG:26986 but not tagged with the code.
    crs = file_crs(BOSTON / "massachusetts_buildings.gpkg")
    assert crs == CRS("EPSG:26986")
    frame = read_vector(BOSTON / "massachusetts_buildings.gpkg")
    assert len(frame) == 1092
    assert reproject(frame, "EPSG:26986", "massachusetts_buildings.gpkg") is frame  # no-op


# --- several files per source: expand_sources ------------------------------------------------


def _touch(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")


def test_expand_sources_of_a_path_a_glob_and_a_list(tmp_path):
    cells = [tmp_path / "open_buildings" / f"{cell}_buildings.csv.gz" for cell in ("0fd", "0f9")]
    osm = tmp_path / "osm" / "ghana.osm.pbf"
    _touch(*cells, osm)
    assert expand_sources(str(osm), "inputs.roads") == [str(osm)]
    pattern = str(tmp_path / "open_buildings" / "*_buildings.csv.gz")
    assert expand_sources(pattern, "inputs.buildings") == sorted(map(str, cells))
    listed = expand_sources([str(osm), str(tmp_path / "**" / "*.gz")], "inputs.buildings")
    assert listed == [str(osm), *sorted(map(str, cells))]


def test_expand_sources_keeps_a_file_named_twice_once(tmp_path):
    path = tmp_path / "a.osm"
    _touch(path)
    twice = [str(path), str(tmp_path / "*.osm"), str(tmp_path / "." / "a.osm")]
    assert expand_sources(twice, "inputs.roads") == [str(path)]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (
            "nowhere/*.csv.gz",
            r"config: `inputs.buildings` entry 'nowhere/\*.csv.gz' matches no file",
        ),
        ("nowhere/a.gpkg", r"config: `inputs.buildings` points to nowhere/a.gpkg, which does not"),
        ([], r"config: `inputs.buildings` is an empty list"),
        ([3], r"config: `inputs.buildings` entry 3 is not a path"),
    ],
    ids=["glob-without-match", "missing-path", "empty-list", "not-a-path"],
)
def test_expand_sources_names_the_key(tmp_path, monkeypatch, value, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=match):
        expand_sources(value, "inputs.buildings")


def test_format_bounds_writes_plain_numbers():
    bounds = tuple(np.array([733600.0, 9_800_000.25, 734_100.5, 9_801_000.0]))
    text = format_bounds(bounds)
    assert text == "x 733,600 to 734,100 m, y 9,800,000 to 9,801,000 m"
    assert "np." not in text and "(" not in text
    assert (
        format_bounds((-0.25, 5.5, -0.2, 5.6), "deg", 2)
        == "x -0.25 to -0.20 deg, y 5.50 to 5.60 deg"
    )
