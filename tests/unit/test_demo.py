"""The demo city: formats of every product, their agreement, and determinism."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import momepy
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.warp import transform_bounds

from satcluster import demo
from satcluster.demo.imagery import scene_specs, write_scenes
from satcluster.demo.layout import CityFrame, make_frame, normalise_shares
from satcluster.demo.place import city_origin
from satcluster.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SIZE_M = 384
WEST, SOUTH = 808960.0, 617472.0
# The second demo city of a study: Dakar, in UTM zone 28N (longitudes -18..-12), with no
# light vegetation (3) and mostly dark dense vegetation (7).
DAKAR_CRS = "EPSG:32628"
DAKAR_SHARES = [0.08, 0.12, 0.2, 0.0, 0.08, 0.07, 0.1, 0.35]


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> demo.DemoCity:
    return demo.generate_demo_city(tmp_path_factory.mktemp("city") / "demo", seed=7, size_m=SIZE_M)


@pytest.fixture(scope="module")
def truth(city) -> gpd.GeoDataFrame:
    return gpd.read_file(city.truth)


@pytest.fixture(scope="module")
def buildings_utm(city) -> gpd.GeoDataFrame:
    return gpd.read_file(city.buildings).to_crs("EPSG:32630")


@pytest.fixture(scope="module")
def dakar(tmp_path_factory) -> demo.DemoCity:
    return demo.generate_demo_city(
        tmp_path_factory.mktemp("dakar") / "demo",
        seed=8,
        size_m=SIZE_M,
        crs=DAKAR_CRS,
        phenotype_shares=DAKAR_SHARES,
    )


def _read(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as src:
        return src.read(), src.profile


def test_file_names_stay_those_of_the_real_products(city):
    prefix = "landsat/LC08_L2SP_193056_20200101_20200109_02_T1"
    expected = {
        "buildings": "buildings.gpkg",
        "roads": "roads.osm",
        "population": "population_ppp.tif",
        "landsat_red": f"{prefix}_SR_B4.TIF",
        "landsat_nir": f"{prefix}_SR_B5.TIF",
        "landsat_qa": f"{prefix}_QA_PIXEL.TIF",
        "truth": "truth.gpkg",
    }
    assert expected == demo.DEMO_FILE_NAMES
    assert demo.scene_names(2) == ["imagery/scene_0.tif", "imagery/scene_1.tif"]
    assert [p.name for p in city.imagery] == ["scene_0.tif", "scene_1.tif"]
    assert all(p.is_file() for p in city.files())


def test_truth_districts_partition_the_city_with_all_phenotypes(truth):
    assert truth.crs.to_epsg() == 32630
    assert truth.phenotype.dtype == np.int64
    assert truth.phenotype_name.map(type).eq(str).all()
    city_box = shapely.box(WEST, SOUTH, WEST + SIZE_M, SOUTH + SIZE_M)
    assert truth.area.sum() == pytest.approx(SIZE_M**2, rel=1e-9)
    union = shapely.union_all(truth.geometry.to_numpy())
    assert shapely.symmetric_difference(union, city_box).area < 1e-3
    shares = truth.area.groupby(truth.phenotype).sum() / SIZE_M**2
    assert sorted(shares.index) == list(range(8))
    assert shares.min() >= 0.03
    # Water is the coast: its districts lie in the southern part of the city.
    water = truth[truth.phenotype == 6]
    assert water.centroid.y.max() < SOUTH + 0.5 * SIZE_M


def test_scenes_are_overlapping_rgb_uint8_in_utm_with_both_nodata_conventions(city):
    with rasterio.open(city.imagery[0]) as west, rasterio.open(city.imagery[1]) as east:
        for src in (west, east):
            assert src.crs.to_epsg() == 32630
            assert src.count == 3
            assert src.dtypes == ("uint8", "uint8", "uint8")
            assert src.res == (0.5, 0.5)
            assert src.bounds.top == SOUTH + SIZE_M and src.bounds.bottom == SOUTH
        assert west.bounds.left == WEST and east.bounds.right == WEST + SIZE_M
        overlap_m = west.bounds.right - east.bounds.left
        assert overlap_m >= 0.15 * SIZE_M
        # scene_0: nodata value 0; scene_1: internal per-dataset mask band.
        assert west.nodata == 0
        assert east.nodata is None
        assert east.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]
        west_pixels, west_mask = west.read(), west.read_masks(1)
        east_mask = east.read_masks(1)
        # The north-west and north-east corners of the city are covered by no scene.
        assert (west_pixels[:, 0, 0] == 0).all() and west_mask[0, 0] == 0
        assert east_mask[0, -1] == 0
        assert west_mask[-1, 0] == 255 and east_mask[-1, -1] == 255
        assert (west_pixels.min(axis=0)[west_mask > 0] > 0).all()  # no valid pixel reads 0
        # Where they overlap, both scenes show the same ground (scene_1 3% darker).
        cols = int(overlap_m / 0.5)
        a = west_pixels[:, -400:, -cols:].astype(float)
        b = east.read(window=((west.height - 400, west.height), (0, cols))).astype(float)
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_imagery_shows_buildings_and_roads(city, buildings_utm):
    with rasterio.open(city.imagery[0]) as src:
        rgb = src.read().astype(float)
        transform, shape = src.transform, (src.height, src.width)
    roofs = rasterize(buildings_utm.geometry.buffer(-1), out_shape=shape, transform=transform) > 0
    truth = gpd.read_file(city.truth)
    water = rasterize(truth.geometry[truth.phenotype == 6], out_shape=shape, transform=transform)
    assert roofs.sum() > 1000
    # Roofs have their own colours, unlike the blue water.
    blue_minus_red = rgb[2] - rgb[0]
    assert blue_minus_red[water > 0].mean() > 40
    assert blue_minus_red[roofs].mean() < 10
    # Main roads (from the same layout as roads.osm) are drawn as dark grey asphalt.
    roads = demo.build_city(seed=7, size_m=SIZE_M).roads
    main = roads[roads.highway.isin(["primary", "secondary"])].buffer(2.0)
    on_road = rasterize(main, out_shape=shape, transform=transform) > 0
    assert on_road.sum() > 1000
    grey = rgb[:, on_road]
    assert np.abs(grey[0] - grey[2]).mean() < 10 and 60 < grey.mean() < 110


def test_buildings_gpkg_in_wgs84_with_two_bowties_and_none_in_water(city, truth, buildings_utm):
    raw = gpd.read_file(city.buildings)
    assert raw.crs.to_epsg() == 4326
    assert {"area_in_meters", "confidence"} <= set(raw.columns)
    assert (~raw.is_valid).sum() == 2
    assert raw.confidence.between(0.65, 1.0).all()
    valid = buildings_utm[buildings_utm.is_valid]
    joined = gpd.sjoin(
        gpd.GeoDataFrame(geometry=valid.centroid), truth, predicate="within", how="left"
    )
    assert set(joined.phenotype.unique()) <= {0, 1, 2, 4}
    assert {0, 1, 2} <= set(joined.phenotype.unique())


def test_building_orientation_follows_the_districts(truth, buildings_utm):
    valid = buildings_utm[buildings_utm.is_valid].copy()
    valid["orientation"] = momepy.orientation(valid)
    joined = gpd.sjoin(
        gpd.GeoDataFrame(valid[["orientation"]], geometry=valid.centroid),
        truth,
        predicate="within",
    )
    by_phenotype = joined.groupby("phenotype").orientation
    assert by_phenotype.min()[0] > 36
    assert by_phenotype.max()[1] < 36
    assert by_phenotype.mean()[0] > 38 and by_phenotype.mean()[1] < 25


def test_osm_roads_parse_with_osmnx_and_include_ways_to_ignore(city):
    roads = ox.features_from_xml(city.roads, tags={"highway": True})
    assert set(roads.highway) == {"primary", "secondary", "tertiary", "residential", "service"}
    assert set(roads.geom_type) == {"LineString"}
    assert "railway" not in roads.columns and "building" not in roads.columns
    root = ET.parse(city.roads).getroot()
    assert root.tag == "osm" and root.get("version") == "0.6"
    node_ids = [int(n.get("id")) for n in root.iter("node")]
    assert min(node_ids) > 0 and len(set(node_ids)) == len(node_ids)
    ways = root.findall("way")
    tags = [{t.get("k"): t.get("v") for t in way.iter("tag")} for way in ways]
    refs = [[int(nd.get("ref")) for nd in way.iter("nd")] for way in ways]
    assert set().union(*refs) <= set(node_ids)
    rail = [r for r, t in zip(refs, tags, strict=True) if t.get("railway") == "rail"]
    building = [r for r, t in zip(refs, tags, strict=True) if t.get("building") == "yes"]
    assert len(rail) == 1
    assert len(building) == 1 and building[0][0] == building[0][-1] and len(building[0]) == 5
    assert len(roads) == len(ways) - 2
    # Crossing ways share their crossing node, as in OpenStreetMap.
    counts = pd.Series([r for way in refs for r in set(way)]).value_counts()
    assert (counts >= 2).sum() > 20
    lon = np.array([float(n.get("lon")) for n in root.iter("node")])
    lat = np.array([float(n.get("lat")) for n in root.iter("node")])
    west, south, east, north = transform_bounds(
        "EPSG:32630", "EPSG:4326", WEST, SOUTH, WEST + SIZE_M, SOUTH + SIZE_M
    )
    assert (lon > west - 1e-6).all() and (lon < east + 1e-6).all()
    assert (lat > south - 1e-6).all() and (lat < north + 1e-6).all()


def test_population_is_worldpop_like_and_follows_building_area(city, truth, buildings_utm):
    with rasterio.open(city.population) as src:
        ppp = src.read(1)
        assert src.crs.to_epsg() == 4326
        assert src.dtypes == ("float32",)
        assert src.nodata == -99999
        assert src.res == pytest.approx((1 / 1200, 1 / 1200), abs=1e-12)
        t = src.transform
        bounds = src.bounds
    # The grid is the global 3 arc-second grid: its origin is a whole number of pixels.
    assert t.c * 1200 == pytest.approx(round(t.c * 1200), abs=1e-6)
    assert t.f * 1200 == pytest.approx(round(t.f * 1200), abs=1e-6)
    west, south, east, north = transform_bounds(
        "EPSG:32630", "EPSG:4326", WEST, SOUTH, WEST + SIZE_M, SOUTH + SIZE_M
    )
    assert bounds.left < west and bounds.right > east
    assert bounds.bottom < south and bounds.top > north
    # People per pixel correlate with the building footprint area in the pixel.
    height, width = ppp.shape
    pixels = gpd.GeoDataFrame(
        {"pixel": np.arange(ppp.size)},
        geometry=[
            shapely.box(t.c + c * t.a, t.f + (r + 1) * t.e, t.c + (c + 1) * t.a, t.f + r * t.e)
            for r in range(height)
            for c in range(width)
        ],
        crs=4326,
    ).to_crs(32630)
    valid = buildings_utm[buildings_utm.is_valid]
    pieces = gpd.overlay(pixels, valid[["geometry"]], how="intersection")
    area = np.zeros(ppp.size)
    np.add.at(area, pieces.pixel.to_numpy(), pieces.area.to_numpy())
    # Nodata over the water only, as in WorldPop.
    nodata = ppp == -99999
    water = shapely.union_all(truth.geometry[truth.phenotype == 6].to_numpy())
    wet = shapely.intersects(pixels.geometry.to_numpy(), water)
    assert nodata.sum() > 0 and wet[nodata.ravel()].all()
    land = ~nodata.ravel()
    assert np.corrcoef(area[land], ppp.ravel()[land])[0, 1] > 0.8
    assert ppp.ravel()[land & (area == 0)].max() < 0.5  # a small rural background


def _landsat(city):
    red, profile = _read(city.landsat_red)
    nir, _ = _read(city.landsat_nir)
    qa, qa_profile = _read(city.landsat_qa)
    return red[0], nir[0], qa[0], profile, qa_profile


def test_landsat_bands_format_and_grid(city):
    red, nir, qa, profile, qa_profile = _landsat(city)
    assert profile["crs"].to_epsg() == 32630
    assert red.dtype == nir.dtype == qa.dtype == np.uint16
    assert profile["nodata"] == 0 and qa_profile["nodata"] == 1
    t = profile["transform"]
    assert (t.a, t.e) == (30.0, -30.0)
    assert t.c % 30 == 0 and t.f % 30 == 0
    assert t.c < WEST and t.f > SOUTH + SIZE_M  # covers the city with a margin
    # Fill (DN 0) and QA fill (value 1) coincide.
    assert ((red == 0) == (qa == 1)).all() and ((nir == 0) == (qa == 1)).all()
    assert (qa == 1).sum() > 0


def test_landsat_cloud_is_flagged_with_dilation_and_bright(city):
    red, nir, qa, _, _ = _landsat(city)
    cloud = (qa & (1 << 3)) > 0
    dilated = (qa & (1 << 1)) > 0
    clear = (qa & (1 << 6)) > 0
    assert cloud.sum() > 0 and dilated.sum() > 0
    assert not (clear & (cloud | dilated)).any()
    assert ((qa[~cloud & ~dilated & (qa != 1)] & (1 << 6)) > 0).all()
    # Every cloud pixel is surrounded by cloud or dilated cloud.
    padded = np.pad(cloud | dilated, 1)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            shifted = padded[1 + dr : 1 + dr + cloud.shape[0], 1 + dc : 1 + dc + cloud.shape[1]]
            assert shifted[cloud].all()
    reflectance_red = red * 0.0000275 - 0.2
    assert reflectance_red[cloud].min() > 0.3  # bright: an unmasked NDVI would be wrong
    # Cloud reflectance 0.45 (red) is DN (0.45 + 0.2) / 0.0000275 = 23636.
    assert np.median(red[cloud]) == pytest.approx(23636, rel=0.05)
    assert set(np.unique(qa)) <= {1, 21762, 21824, 21952, 22280, 23888}


def test_ndvi_follows_vegetation(city, truth):
    red, nir, qa, profile, _ = _landsat(city)
    usable = (qa & 0b11111) == 0
    r = red * 0.0000275 - 0.2
    n = nir * 0.0000275 - 0.2
    ndvi = (n - r) / (n + r)
    raw_ndvi = (nir.astype(float) - red) / np.maximum(nir.astype(float) + red, 1)
    # Share of each 30 m pixel covered by each phenotype, from 3 m sub-pixels.
    fine = profile["transform"] @ rasterio.Affine.scale(0.1)
    h, w = red.shape
    phen = rasterize(
        zip(truth.geometry, truth.phenotype + 1, strict=True),
        out_shape=(h * 10, w * 10),
        transform=fine,
    ).reshape(h, 10, w, 10)
    share = {p: (phen == p + 1).mean(axis=(1, 3)) for p in range(8)}
    median = {
        p: np.median(ndvi[usable & (share[p] >= 0.7)])
        for p in range(8)
        if (usable & (share[p] >= 0.7)).any()
    }
    assert set(median) == set(range(8))
    built = max(median[0], median[1])
    assert median[7] > 0.7
    assert min(median[3], median[4], median[7]) > built + 0.2
    assert 0.0 < built < 0.25
    assert median[6] < 0
    # Raw DNs (without the scale and offset) would flatten the contrast.
    assert np.median(raw_ndvi[usable & (share[7] >= 0.7)]) < median[7] - 0.3


def test_same_seed_same_files_other_seed_other_city(city, tmp_path):
    again = demo.generate_demo_city(tmp_path / "again", seed=7, size_m=SIZE_M)
    for a, b in zip(city.files(), again.files(), strict=True):
        if a.suffix == ".gpkg":  # GeoPackages hold a write timestamp: compare contents
            pd.testing.assert_frame_equal(gpd.read_file(a), gpd.read_file(b))
        else:
            assert a.read_bytes() == b.read_bytes(), a.name
    other = demo.generate_demo_city(tmp_path / "other", seed=8, size_m=SIZE_M)
    assert not gpd.read_file(city.truth).geom_equals(gpd.read_file(other.truth)).all()
    assert not np.array_equal(_read(city.imagery[0])[0], _read(other.imagery[0])[0])
    assert city.roads.read_bytes() != other.roads.read_bytes()


def test_failed_generation_leaves_no_partial_output(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("satcluster.demo.write_landsat", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        demo.generate_demo_city(tmp_path / "demo", size_m=256)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"size_m": 100}, "demo.size_m"), ({"n_scenes": 1}, "demo.n_scenes")],
)
def test_bad_settings_name_the_config_key(tmp_path, kwargs, key):
    with pytest.raises(InputError, match=re.escape(key)):
        demo.generate_demo_city(tmp_path / "demo", **kwargs)
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("n_scenes", [2, 3, 5])
def test_scenes_overlap_and_cover_the_city_width(n_scenes):
    frame = make_frame(6144, 0.5)
    specs = scene_specs(frame, n_scenes)
    assert specs[0].window.col_off == 0
    assert specs[-1].window.col_off + specs[-1].window.width == frame.width_px
    for left, right in zip(specs, specs[1:], strict=False):
        assert right.window.col_off < left.window.col_off + left.window.width
    assert {s.convention for s in specs} == {"nodata0", "mask"}


# --- per-city settings: crs and phenotype_shares -------------------------------------------


def test_defaults_keep_the_accra_city():
    """The default city is where it always was, with the paper's shares (the workflow's
    results are compared byte for byte, so the defaults must not move it)."""
    assert make_frame(SIZE_M, 0.5) == CityFrame(WEST, SOUTH, SIZE_M, 0.5, "EPSG:32630")
    assert city_origin("EPSG:32630") == (WEST, SOUTH)
    assert normalise_shares(None) is demo.PHENOTYPE_SHARES
    assert demo.PHENOTYPE_SHARES.sum() == pytest.approx(1.0)


def test_other_utm_zone_city_is_drawn_in_that_zone(dakar):
    west, south = city_origin(DAKAR_CRS)
    box = shapely.box(west, south, west + SIZE_M, south + SIZE_M)
    for path in [*dakar.imagery, dakar.truth, dakar.landsat_red, dakar.landsat_qa]:
        if path.suffix == ".gpkg":
            assert gpd.read_file(path).crs.to_epsg() == 32628
            continue
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 32628, path.name
            assert shapely.box(*src.bounds).intersection(box).area > 0.3 * SIZE_M**2
    # The lon/lat products fall in zone 28N and, reprojected, on the imagery footprint.
    buildings = gpd.read_file(dakar.buildings)
    assert buildings.crs.to_epsg() == 4326
    lon_min, _, lon_max, _ = buildings.total_bounds
    assert lon_min > -18 and lon_max < -12
    assert len(buildings) > 20
    assert box.buffer(1.0).contains(shapely.box(*buildings.to_crs(DAKAR_CRS).total_bounds))
    root = ET.parse(dakar.roads).getroot()
    lonlat = np.array([[float(n.get("lon")), float(n.get("lat"))] for n in root.iter("node")])
    assert (lonlat[:, 0] > -18).all() and (lonlat[:, 0] < -12).all()
    nodes = gpd.GeoSeries(gpd.points_from_xy(*lonlat.T), crs=4326).to_crs(DAKAR_CRS)
    assert nodes.within(box.buffer(1.0)).all()
    with rasterio.open(dakar.population) as src:
        assert src.crs.to_epsg() == 4326
        assert src.bounds.left > -18 and src.bounds.right < -12
        covered = transform_bounds(src.crs, DAKAR_CRS, *src.bounds)
    assert shapely.box(*covered).contains(box)


def test_phenotype_shares_set_the_truth_mix(dakar):
    truth = gpd.read_file(dakar.truth)
    shares = truth.area.groupby(truth.phenotype).sum() / truth.area.sum()
    assert 3 not in shares.index  # a zero share: absent
    assert shares.idxmax() == 7 and shares[7] > 0.25  # the dominant share: the largest area
    assert set(shares.index) == {0, 1, 2, 4, 5, 6, 7}
    # Water is still the southern coast.
    west, south = city_origin(DAKAR_CRS)
    assert truth[truth.phenotype == 6].centroid.y.max() < south + 0.5 * SIZE_M


def test_shares_without_land_or_buildings_still_make_a_city():
    """Every quota met and no land phenotype with a share: the rest becomes water."""
    layout = demo.build_city(seed=7, size_m=256, phenotype_shares=[0, 0, 0, 0, 0, 0, 1, 0])
    assert set(layout.districts.phenotype) == {6}
    assert len(layout.buildings) == 0


def test_other_utm_zones_keep_the_place_relative_to_the_zone():
    assert city_origin("EPSG:32629") == (WEST, SOUTH)  # zone 29N: -12..-6 deg
    lon, lat = transform_bounds("EPSG:32629", "EPSG:4326", WEST, SOUTH, WEST + 1, SOUTH + 1)[:2]
    assert -12 < lon < -6 and lat == pytest.approx(5.58, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"crs": "EPSG:4326"}, "`crs`"),
        ({"crs": "not a crs"}, "`crs`"),
        ({"phenotype_shares": [0.125] * 7}, "demo.phenotype_shares"),
        ({"phenotype_shares": [0.2, -0.1, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1]}, "demo.phenotype_shares"),
        ({"phenotype_shares": [0] * 8}, "demo.phenotype_shares"),
        ({"phenotype_shares": ["a"] * 8}, "demo.phenotype_shares"),
    ],
)
def test_bad_crs_or_shares_name_the_setting(tmp_path, kwargs, key):
    with pytest.raises(InputError, match=re.escape(key)):
        demo.generate_demo_city(tmp_path / "demo", size_m=256, **kwargs)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match=re.escape(key)):
        demo.build_city(size_m=256, **kwargs)


def test_imagery_painted_on_threads_is_the_same_bytes(tmp_path):
    """Strips painted on 3 threads and written in order: the files of the serial painting."""
    layout = demo.build_city(seed=7, size_m=1024)  # 2048 px: 8 strips per scene
    serial = write_scenes(layout, tmp_path / "serial", 2, seed=7, threads=1)
    threaded = write_scenes(layout, tmp_path / "threaded", 2, seed=7, threads=3)
    for one, other in zip(serial, threaded, strict=True):
        assert one.read_bytes() == other.read_bytes()
