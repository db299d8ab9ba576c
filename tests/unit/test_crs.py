"""CRS checks written once: the working CRS in metres, and opening a raster that has a CRS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import CRS
from rasterio.transform import from_origin

from satcluster.crs import describe_error, open_georeferenced, parse_crs, require_metric_crs
from satcluster.errors import InputError
from satcluster.tiling import working_crs

# Real samples beside the project (../shared/real); tests that need them skip without it.
REAL = Path(__file__).resolve().parents[3] / "shared" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"no real samples at {REAL}")


def _write_raster(path: Path, crs: str | None) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=4,
        height=4,
        count=1,
        dtype="uint8",
        crs=crs,
        transform=from_origin(1000.0, 2000.0, 1.0, 1.0),
    ) as dst:
        dst.write(np.ones((4, 4), "uint8"), 1)
    return path


@pytest.mark.parametrize("crs", ["EPSG:32630", "EPSG:2056", "+proj=utm +zone=30 +datum=WGS84"])
def test_projected_crs_in_metres_is_accepted(crs):
    assert require_metric_crs(crs) == CRS.from_user_input(crs)


def test_geographic_crs_is_refused_naming_the_key():
    with pytest.raises(
        InputError, match=r"config `covariates.crs` is 'EPSG:4326'.*not a projected"
    ):
        require_metric_crs("EPSG:4326", key="covariates.crs")


def test_crs_in_feet_is_refused():
    # NAD83 / Massachusetts Mainland (ftUS): projected, but its axes are in US survey feet.
    assert CRS("EPSG:2249").is_projected
    with pytest.raises(InputError, match=r"`crs` is 'EPSG:2249'.*not a projected CRS in metres"):
        require_metric_crs("EPSG:2249")
    with pytest.raises(InputError, match="EPSG:32630"):  # the fix: a UTM zone
        working_crs("EPSG:2249")


def test_text_that_is_no_crs_is_refused_naming_the_key():
    with pytest.raises(InputError, match=r"config `crs` value 'EPSG:99999999' is not a CRS"):
        parse_crs("EPSG:99999999")
    with pytest.raises(InputError, match=r"`crs` value 'metres please' is not a CRS"):
        require_metric_crs("metres please")


def test_working_crs_is_the_same_crs_for_rasterio():
    crs = working_crs("EPSG:32630")
    assert isinstance(crs, rasterio.crs.CRS)
    assert crs == rasterio.crs.CRS.from_epsg(32630) and crs.to_epsg() == 32630


def test_raster_with_a_crs_opens(tmp_path):
    with open_georeferenced(_write_raster(tmp_path / "a.tif", "EPSG:32630"), "test") as dataset:
        assert dataset.crs.to_epsg() == 32630


def test_missing_raster_names_the_file_and_the_key(tmp_path):
    with pytest.raises(
        InputError, match=r"imagery scene file not found: .*nope.tif.*inputs.imagery"
    ):
        open_georeferenced(tmp_path / "nope.tif", "imagery scene", key="inputs.imagery")


def test_unreadable_raster_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "junk.tif"
    path.write_bytes(b"not a raster at all" * 50)
    with pytest.raises(InputError, match=r"population file .*junk.tif cannot be read.*re-download"):
        open_georeferenced(path, "population")


def test_raster_without_crs_names_the_file_and_the_fix(tmp_path):
    path = _write_raster(tmp_path / "nocrs.tif", None)
    with pytest.raises(InputError, match=r"nocrs.tif has no CRS.*gdal_edit.py -a_srs EPSG:32630"):
        open_georeferenced(path, "imagery scene", example_crs="EPSG:32630")


def test_describe_error_adds_the_chained_cause():
    try:
        try:
            raise ValueError("TIFFReadEncodedTile() failed")
        except ValueError as cause:
            raise OSError("Read failed.") from cause
    except OSError as err:
        assert describe_error(err) == "Read failed.: TIFFReadEncodedTile() failed"
    assert describe_error(OSError("alone")) == "alone"


@needs_real
def test_real_geotiff_opens_with_its_crs():
    path = REAL / "boston_massachusetts" / "22978945_15_uint8_clipped2.tif"
    with open_georeferenced(path, "imagery scene") as dataset:
        assert dataset.crs.to_epsg() == 26986
        assert require_metric_crs(dataset.crs) == CRS("EPSG:26986")
