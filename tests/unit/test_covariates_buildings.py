"""Building loading (every supported format) and per-tile covariates, checked against hand values.

The scene, in EPSG:32630 metres relative to (X0, Y0) near Accra:
  tile 10 = [0, 100] x [0, 100], tile 11 = [100, 200] x [0, 100], tile 12 = [400, 500] x [0, 100]
  A: 20 x 10 m rectangle rotated 30 deg, centred (30, 50): area 200, orientation 30, in tile 10
  B: 30 x 10 m axis-aligned, x 75..105, y 45..55: area 300 (250 in tile 10, 50 in tile 11),
     orientation 0, centroid (90, 50) -> counted in tile 10
  C: bow-tie (150,20) (160,30) (160,20) (150,30): invalid; repaired to two triangles of 25 m2,
     centroid (155, 25) -> tile 11, orientation 0 (its rectangle is the 10 x 10 square)
So tile 10: area 450, count 2, mean size 250, orientation 15; tile 11: area 100, count 1,
mean size 50, orientation 0; tile 12: nothing (area 0, count 0, NaN, NaN).
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import affinity

from satcluster.covariates.buildings import (
    COLUMNS,
    building_covariates,
    chunk_building_covariates,
    load_buildings,
)
from satcluster.errors import InputError
from tests.harness.demo_tiles import demo_tiles_by_phenotype

CRS = "EPSG:32630"
X0, Y0 = 810_000.0, 620_000.0


def _at(geom):
    return affinity.translate(geom, X0, Y0)


def _tiles() -> gpd.GeoDataFrame:
    boxes = [
        shapely.box(0, 0, 100, 100),
        shapely.box(100, 0, 200, 100),
        shapely.box(400, 0, 500, 100),
    ]
    return gpd.GeoDataFrame(
        geometry=[_at(b) for b in boxes], index=pd.Index([10, 11, 12], name="tile_id"), crs=CRS
    )


def _footprints() -> list:
    rotated = affinity.rotate(shapely.box(20, 45, 40, 55), 30, origin=(30, 50))
    straddling = shapely.box(75, 45, 105, 55)
    bow_tie = shapely.Polygon([(150, 20), (160, 30), (160, 20), (150, 30)])
    return [_at(g) for g in (rotated, straddling, bow_tie)]


def _buildings_file(tmp_path, crs=CRS, suffix=".gpkg", extra=()) -> str:
    frame = gpd.GeoDataFrame(geometry=[*_footprints(), *extra], crs=CRS)
    if crs != CRS:
        frame = frame.to_crs(crs)
    path = tmp_path / f"buildings{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_file(path)
    return str(path)


EXPECTED = pd.DataFrame(
    {
        "building_area_m2": [450.0, 100.0, 0.0],
        "building_count": [2, 1, 0],
        "mean_building_size_m2": [250.0, 50.0, np.nan],
        "building_orientation_deg": [15.0, 0.0, np.nan],
    },
    index=pd.Index([10, 11, 12], name="tile_id"),
)


def _check(table: pd.DataFrame, atol: float = 1e-4) -> None:
    """Equal to the hand values; 1e-4 covers float noise at UTM coordinates of ~10^6 m."""
    assert list(table.columns) == COLUMNS
    assert table["building_count"].dtype == np.int64
    pd.testing.assert_frame_equal(table, EXPECTED, check_exact=False, atol=atol, rtol=0)


def test_two_buildings_one_straddling_and_a_repaired_bow_tie(tmp_path, caplog):
    path = _buildings_file(tmp_path, extra=[shapely.LineString([(X0, Y0), (X0 + 5, Y0 + 5)])])
    with caplog.at_level(logging.INFO):
        buildings = load_buildings(path, CRS)
    assert len(buildings) == 3  # the line is dropped
    assert "repaired 1 invalid polygons" in caplog.text
    assert "dropped 1 non-polygon" in caplog.text
    assert shapely.is_valid(buildings.geometry.to_numpy()).all()
    _check(building_covariates(_tiles(), buildings))


@pytest.mark.parametrize("suffix", [".geojson", ".parquet", ".shp"])
def test_other_formats_and_reprojection_from_wgs84(tmp_path, suffix):
    path = _buildings_file(tmp_path, crs="EPSG:4326", suffix=suffix)
    # Vertices reprojected there and back: areas agree to well under a square centimetre.
    _check(building_covariates(_tiles(), load_buildings(path, CRS)), atol=1e-3)


def test_centroid_on_a_shared_edge_counts_once_in_the_east_tile():
    on_edge = gpd.GeoDataFrame(geometry=[_at(shapely.box(95, 70, 105, 80))], crs=CRS)
    table = building_covariates(_tiles(), on_edge)
    assert table["building_count"].tolist() == [0, 1, 0]
    assert table["building_area_m2"].tolist() == pytest.approx([50.0, 50.0, 0.0])
    assert table.loc[11, "mean_building_size_m2"] == pytest.approx(100.0)


def test_tiles_that_are_not_axis_aligned_rectangles():
    # A diamond tile |x - 50| + |y - 50| <= 50. Box 40..60 x 40..60 lies inside (400 m2);
    # box 0..20 x 40..60 is cut along x >= |y - 50|: 2 * integral_0^10 (20 - t) dt = 300 m2.
    diamond = _at(shapely.Polygon([(50, 0), (100, 50), (50, 100), (0, 50)]))
    tiles = gpd.GeoDataFrame(geometry=[diamond], index=pd.Index([7], name="tile_id"), crs=CRS)
    boxes = [_at(shapely.box(40, 40, 60, 60)), _at(shapely.box(0, 40, 20, 60))]
    table = building_covariates(tiles, gpd.GeoDataFrame(geometry=boxes, crs=CRS))
    assert table.loc[7, "building_area_m2"] == pytest.approx(700.0)
    assert table.loc[7, "building_count"] == 2
    assert table.loc[7, "mean_building_size_m2"] == pytest.approx(400.0)


def _wgs84(geoms) -> gpd.GeoSeries:
    return gpd.GeoSeries(geoms, crs=CRS).to_crs("EPSG:4326")


def test_google_open_buildings_csv_with_confidence_filter(tmp_path, caplog):
    footprints = _wgs84(_footprints())
    extra = _wgs84([_at(shapely.box(20, 20, 30, 30))])  # would add 100 m2 to tile 10
    geoms = [*footprints, *extra]
    centres = [g.representative_point() for g in geoms]
    rows = pd.DataFrame(
        {
            "latitude": [p.y for p in centres],
            "longitude": [p.x for p in centres],
            "area_in_meters": [200.0, 300.0, 50.0, 100.0],
            "confidence": [0.9, 0.65, 0.8, 0.64],
            "geometry": [g.wkt for g in geoms],
            "full_plus_code": ["6CQQJQ00+00"] * 4,
        }
    )
    path = tmp_path / "open_buildings.csv.gz"
    rows.to_csv(path, index=False)
    with caplog.at_level(logging.INFO):
        buildings = load_buildings(path, CRS, min_confidence=0.65)
    assert "4 rows, 3 kept" in caplog.text
    _check(building_covariates(_tiles(), buildings), atol=1e-3)


def test_google_csv_without_its_columns_stops(tmp_path):
    path = tmp_path / "buildings.csv"
    path.write_text("lat,lon,wkt\n5.6,-0.2,POINT (0 0)\n")
    with pytest.raises(InputError, match="lacks the column"):
        load_buildings(path, CRS)


def _feature_lines(geoms) -> str:
    features = [
        {
            "type": "Feature",
            "properties": {"height": -1.0, "confidence": -1.0},
            "geometry": shapely.geometry.mapping(g),
        }
        for g in geoms
    ]
    return "\n".join(json.dumps(f) for f in features) + "\n"


@pytest.mark.parametrize("name", ["ghana.geojsonl", "ghana.ndjson", "part-00000.csv.gz"])
def test_microsoft_line_delimited_geojson(tmp_path, name):
    text = _feature_lines(_wgs84(_footprints()))
    path = tmp_path / name
    if name.endswith(".gz"):  # Microsoft's own naming: GeoJSON lines in a .csv.gz
        with gzip.open(path, "wt") as stream:
            stream.write(text)
    else:
        path.write_text(text)
    _check(building_covariates(_tiles(), load_buildings(path, CRS)), atol=1e-3)


def test_bbox_read_keeps_only_footprints_near_the_chunk(tmp_path):
    far = _at(shapely.box(5000, 5000, 5010, 5010))
    path = _buildings_file(tmp_path, crs="EPSG:4326", extra=[_wgs84([far]).to_crs(CRS).iloc[0]])
    assert len(load_buildings(path, CRS)) == 4
    near = load_buildings(path, CRS, bbox=tuple(_tiles().total_bounds))
    assert len(near) == 3


def test_file_without_crs_stops(tmp_path):
    path = tmp_path / "no_crs.shp"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gpd.GeoDataFrame(geometry=_footprints()).to_file(path)
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(InputError, match="no coordinate reference system"):
        load_buildings(path, CRS)


def test_file_with_no_features_warns_and_gives_zeros(tmp_path, caplog):
    path = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame(geometry=[], crs=CRS).to_file(path)
    with caplog.at_level(logging.WARNING):
        buildings = load_buildings(path, CRS)
    assert buildings.empty and "no building footprints" in caplog.text
    table = building_covariates(_tiles(), buildings)
    assert table["building_count"].tolist() == [0, 0, 0]
    assert table["building_area_m2"].tolist() == [0.0, 0.0, 0.0]
    assert table[["mean_building_size_m2", "building_orientation_deg"]].isna().all().all()


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "not found"), (b"", "empty"), (b"\x00garbage\xff" * 50, "cannot read")],
    ids=["missing", "zero-bytes", "unreadable"],
)
def test_missing_empty_or_unreadable_file_stops(tmp_path, content, match):
    path = tmp_path / "buildings.gpkg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=match) as err:
        load_buildings(path, CRS)
    assert str(path) in str(err.value)


def test_source_that_misses_the_city_gives_nan_and_a_warning(tmp_path, caplog):
    far_away = [affinity.translate(g, 50_000, 0) for g in _footprints()]
    path = tmp_path / "elsewhere.gpkg"
    gpd.GeoDataFrame(geometry=far_away, crs=CRS).to_file(path)
    tiles = _tiles()
    with caplog.at_level(logging.WARNING):
        table = chunk_building_covariates(tiles, path, CRS, city_bounds=tuple(tiles.total_bounds))
    assert table.isna().all().all() and list(table.columns) == COLUMNS
    assert "do not overlap the tiles" in caplog.text


def test_chunk_reads_its_area_and_matches_the_full_computation(tmp_path):
    path = _buildings_file(tmp_path)
    tiles = _tiles()
    table = chunk_building_covariates(tiles, path, CRS, city_bounds=tuple(tiles.total_bounds))
    _check(table)


def test_orientation_folds_onto_0_45_degrees():
    rect = shapely.box(-10, -5, 10, 5)
    angles = [0, 10, 30, 45, 60, 80]
    buildings = gpd.GeoDataFrame(
        geometry=[_at(affinity.translate(affinity.rotate(rect, a), 50, 50)) for a in angles],
        crs=CRS,
    )
    one_tile = _tiles().iloc[:1]
    expected = [0, 10, 30, 45, 30, 10]
    for building, angle in zip(buildings.geometry, expected, strict=True):
        single = gpd.GeoDataFrame(geometry=[building], crs=CRS)
        got = building_covariates(one_tile, single).loc[10, "building_orientation_deg"]
        assert math.isclose(got, angle, abs_tol=1e-4)


# --- the demo city's planted districts ------------------------------------------------------


def test_demo_city_dense_districts_have_the_buildings_and_the_planted_orientation(demo_city):
    tiles = demo_tiles_by_phenotype(demo_city.truth)
    table = chunk_building_covariates(
        tiles, demo_city.buildings, CRS, city_bounds=tuple(tiles.total_bounds)
    )
    by_phenotype = table.groupby(tiles["phenotype"]).mean()
    dense = by_phenotype.loc[[0, 1], "building_count"]
    sparse = by_phenotype.loc[[3, 5, 6, 7], "building_count"]  # vegetation, empty, water
    assert dense.min() > 4 * sparse.max()
    assert (
        by_phenotype.loc[[0, 1], "building_area_m2"].min()
        > by_phenotype["building_area_m2"].loc[[3, 5, 6, 7]].max()
    )
    assert by_phenotype.loc[0, "building_orientation_deg"] > 36
    assert by_phenotype.loc[1, "building_orientation_deg"] < 36
    # Dark dense vegetation holds no building: NaN size and orientation there.
    assert table.loc[tiles["phenotype"] == 7, "building_orientation_deg"].isna().all()


def test_working_crs_in_degrees_stops(tmp_path):
    with pytest.raises(InputError, match="not a projected CRS in metres"):
        load_buildings(_buildings_file(tmp_path), "EPSG:4326")


# --- several files per source ----------------------------------------------------------------


def _google_csv(path, geoms, confidence) -> str:
    """A Google Open Buildings v3 CSV of ``geoms`` (in EPSG:32630) written in lon/lat."""
    lonlat = _wgs84(geoms)
    centres = [g.representative_point() for g in lonlat]
    pd.DataFrame(
        {
            "latitude": [p.y for p in centres],
            "longitude": [p.x for p in centres],
            "confidence": confidence,
            "geometry": [g.wkt for g in lonlat],
        }
    ).to_csv(path, index=False)
    return str(path)


def test_overlapping_geopackage_and_google_csv_give_the_union_once(tmp_path, caplog):
    rotated, straddling, bow_tie = _footprints()
    gpkg = tmp_path / "osm_buildings.gpkg"
    gpd.GeoDataFrame(geometry=[rotated, straddling], crs=CRS).to_file(gpkg)
    # The CSV repeats the straddling footprint (reprojected to lon/lat and written as WKT,
    # so its vertices moved by float noise) and adds the bow-tie.
    csv = _google_csv(tmp_path / "open_buildings.csv", [straddling, bow_tie], [0.9, 0.8])
    for paths in ([gpkg, csv], [csv, gpkg]):
        with caplog.at_level(logging.INFO):
            buildings = load_buildings(paths, CRS)
        assert len(buildings) == 3
        assert "1 footprints already read from an earlier file" in caplog.text
        _check(building_covariates(_tiles(), buildings), atol=1e-3)
        table = chunk_building_covariates(
            _tiles(), paths, CRS, city_bounds=tuple(_tiles().total_bounds)
        )
        _check(table, atol=1e-3)


def test_a_list_of_one_file_is_that_file(tmp_path):
    path = _buildings_file(tmp_path)
    one = load_buildings(path, CRS)
    listed = load_buildings([path], CRS)
    assert one.geometry.to_wkb().tolist() == listed.geometry.to_wkb().tolist()


def test_footprints_repeated_within_one_file_are_kept_as_before(tmp_path):
    path = _buildings_file(tmp_path, extra=[_footprints()[0]])
    assert len(load_buildings(path, CRS)) == 4
    assert len(load_buildings([path, path], CRS)) == 4  # the second copy of the file adds none


def test_neighbours_that_touch_are_not_duplicates(tmp_path):
    left, right = shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)
    gpd.GeoDataFrame(geometry=[_at(left)], crs=CRS).to_file(tmp_path / "a.gpkg")
    gpd.GeoDataFrame(geometry=[_at(right)], crs=CRS).to_file(tmp_path / "b.gpkg")
    assert len(load_buildings([tmp_path / "a.gpkg", tmp_path / "b.gpkg"], CRS)) == 2


# --- messages: once per run, plain numbers ---------------------------------------------------

FLOAT_TUPLE = re.compile(r"\(\s*-?\d+\.\d+\s*,")  # "(733600.0, ..." : a Python tuple of floats


def _plain(text: str) -> None:
    assert "np." not in text and not FLOAT_TUPLE.search(text), text


def test_source_that_misses_the_city_warns_in_chunk_0_only_in_plain_numbers(tmp_path, caplog):
    far_away = [affinity.translate(g, 50_000, 0) for g in _footprints()]
    path = tmp_path / "elsewhere.gpkg"
    gpd.GeoDataFrame(geometry=far_away, crs=CRS).to_file(path)
    tiles = _tiles()
    city = tuple(tiles.total_bounds)  # numpy floats, as the workflow gives them
    for chunk in (1, 2, 3):
        with caplog.at_level(logging.WARNING):
            table = chunk_building_covariates(tiles, path, CRS, city_bounds=city, chunk=chunk)
        assert table.isna().all().all()  # every chunk finds the same ...
    assert caplog.text == ""  # ... but says nothing
    with caplog.at_level(logging.WARNING):
        chunk_building_covariates(tiles, path, CRS, city_bounds=city, chunk=0)
    (warning,) = caplog.records
    _plain(warning.getMessage())
    assert "x 810,000 to 810,500 m, y 620,000 to 620,100 m" in warning.getMessage()


def test_chunk_0_without_tiles_still_warns(tmp_path, caplog):
    path = tmp_path / "elsewhere.gpkg"
    gpd.GeoDataFrame(geometry=[_at(shapely.box(9e4, 0, 9e4 + 10, 10))], crs=CRS).to_file(path)
    city = tuple(_tiles().total_bounds)
    with caplog.at_level(logging.WARNING):
        table = chunk_building_covariates(_tiles().iloc[:0], path, CRS, city_bounds=city)
    assert table.empty and "do not overlap the tiles" in caplog.text


def test_source_without_footprints_warns_once_per_run(tmp_path, caplog):
    path = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame(geometry=[], crs=CRS).to_file(path)
    tiles, city = _tiles(), tuple(_tiles().total_bounds)
    with caplog.at_level(logging.WARNING):
        for chunk in range(4):
            table = chunk_building_covariates(tiles, path, CRS, city_bounds=city, chunk=chunk)
            assert table["building_count"].eq(0).all()
    assert len(caplog.records) == 1 and "holds no building footprints" in caplog.text


def test_repairs_are_warned_in_chunk_0_only(tmp_path, caplog):
    path = _buildings_file(tmp_path)  # holds the bow-tie
    tiles, city = _tiles(), tuple(_tiles().total_bounds)
    with caplog.at_level(logging.WARNING):
        chunk_building_covariates(tiles, path, CRS, city_bounds=city, chunk=1)
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        chunk_building_covariates(tiles, path, CRS, city_bounds=city, chunk=0)
    assert "repaired 1 invalid polygons" in caplog.text


# --- real footprints -------------------------------------------------------------------------

REAL = Path(__file__).resolve().parents[3] / "shared" / "real"
BOSTON = REAL / "boston_massachusetts"


@pytest.mark.skipif(not BOSTON.is_dir(), reason=f"no real samples at {BOSTON}")
def test_real_footprint_files_that_overlap_count_each_footprint_once():
    # The 441 footprints of the image's file are all among the state file's 1092 (in
    # EPSG:26986, a metric CRS): the union is the state file, in either order.
    small, state = BOSTON / "22978945_15.gpkg", BOSTON / "massachusetts_buildings.gpkg"
    crs = "EPSG:26986"
    alone = load_buildings(state, crs)
    assert len(load_buildings(small, crs)) == 441 and len(alone) == 1092
    tiles = gpd.GeoDataFrame(
        geometry=[shapely.box(*b) for b in _grid(alone.total_bounds, 500.0)], crs=crs
    )
    expected = building_covariates(tiles, alone)
    for paths in ([small, state], [state, small]):
        union = load_buildings(paths, crs)
        assert len(union) == 1092
        table = building_covariates(tiles, union)
        pd.testing.assert_frame_equal(table, expected, check_exact=False, rtol=1e-9)


def _grid(bounds, size: float) -> list[tuple[float, float, float, float]]:
    west, south, east, north = (float(b) for b in bounds)
    return [
        (x, y, x + size, y + size)
        for x in np.arange(west, east, size)
        for y in np.arange(south, north, size)
    ]
