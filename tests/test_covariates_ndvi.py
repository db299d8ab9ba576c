"""NDVI from Landsat 8 C2 L2 bands: reflectance scaling, QA masking and tile means."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from conftest import demo_tiles_by_phenotype
from rasterio.transform import from_origin

from satcluster.covariates.ndvi import landsat_ndvi, ndvi_covariates, qa_clear, reflectance
from satcluster.errors import InputError

UTM = "EPSG:32630"
CLEAR_QA = 21824  # a typical clear-land QA_PIXEL value: bits 6, 8, 10, 12, 14 set
CLOUD_QA = 1 << 3
# Two land covers and their NDVI from reflectances (DN * 0.0000275 - 0.2), by hand:
# vegetation red 10000 -> 0.075, NIR 20000 -> 0.35: (0.35 - 0.075) / (0.35 + 0.075)
# bare soil  red 12000 -> 0.13,  NIR 14000 -> 0.185: (0.185 - 0.13) / (0.185 + 0.13)
VEG_RED, VEG_NIR, VEG_NDVI = 10000, 20000, 0.275 / 0.425
SOIL_RED, SOIL_NIR, SOIL_NDVI = 12000, 14000, 0.055 / 0.315


def _write(path: Path, band: np.ndarray, nodata: int, crs: str | None = UTM, x0: float = 0):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=band.shape[1],
        height=band.shape[0],
        count=1,
        dtype="uint16",
        crs=crs,
        transform=from_origin(x0, 120, 30, 30),
        nodata=nodata,
    ) as dataset:
        dataset.write(band.astype("uint16"), 1)
    return path


def _scene(tmp_path: Path, qa: np.ndarray | None = None, **kwargs) -> tuple[Path, Path, Path]:
    """4 x 4 pixels of 30 m: vegetation in columns 0-1, bare soil in columns 2-3."""
    red = np.where(np.arange(4)[None, :] < 2, VEG_RED, SOIL_RED) * np.ones((4, 1), int)
    nir = np.where(np.arange(4)[None, :] < 2, VEG_NIR, SOIL_NIR) * np.ones((4, 1), int)
    qa = np.full((4, 4), CLEAR_QA) if qa is None else qa
    return (
        _write(tmp_path / "SR_B4.TIF", red, nodata=0, **kwargs),
        _write(tmp_path / "SR_B5.TIF", nir, nodata=0, **kwargs),
        _write(tmp_path / "QA_PIXEL.TIF", qa, nodata=1, **kwargs),
    )


def _tiles(*geoms: shapely.Geometry) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(geoms), index=np.arange(len(geoms)), crs=UTM)


def _masked_block_qa() -> np.ndarray:
    qa = np.full((4, 4), CLEAR_QA)
    qa[0:2, 0:2] = CLOUD_QA
    return qa


def test_reflectance_is_scaled_before_the_ratio():
    assert reflectance(np.array([10000, 20000])) == pytest.approx([0.075, 0.35], abs=1e-6)
    ndvi = landsat_ndvi(np.array([[VEG_RED]]), np.array([[VEG_NIR]]), np.array([[CLEAR_QA]]))
    assert ndvi[0, 0] == pytest.approx(VEG_NDVI, abs=1e-6)
    assert abs(ndvi[0, 0] - (VEG_NIR - VEG_RED) / (VEG_NIR + VEG_RED)) > 0.3  # not on raw DNs


@pytest.mark.parametrize("bit", [0, 1, 2, 3, 4])
def test_each_of_qa_bits_0_to_4_masks_a_pixel(bit):
    qa = np.array([[CLEAR_QA, CLEAR_QA | (1 << bit)]])
    assert qa_clear(qa).tolist() == [[True, False]]
    ndvi = landsat_ndvi(np.full((1, 2), VEG_RED), np.full((1, 2), VEG_NIR), qa)
    assert ndvi[0, 0] == pytest.approx(VEG_NDVI, abs=1e-6)
    assert np.isnan(ndvi[0, 1])


def test_other_qa_bits_do_not_mask():
    # bit 6 is "clear", bit 5 snow, bit 7 water: none of them hides the surface.
    qa = np.array([[1 << 6, 1 << 5, 1 << 7, 0]])
    assert qa_clear(qa).all()


def test_fill_and_nonpositive_reflectance_are_masked():
    red = np.array([[0, VEG_RED, 100]])
    nir = np.array([[VEG_NIR, 0, 200]])  # DN 100 / 200 give reflectances below 0
    ndvi = landsat_ndvi(red, nir, np.full((1, 3), CLEAR_QA))
    assert np.isnan(ndvi).all()


def test_mean_over_a_scene_with_a_qa_masked_block(tmp_path):
    # The cloud block is the top-left 2 x 2 vegetation pixels: 4 vegetation and 8 soil
    # pixels remain for the tile covering the whole scene.
    red, nir, qa = _scene(tmp_path, qa=_masked_block_qa())
    table = ndvi_covariates(_tiles(shapely.box(0, 0, 120, 120)), red, nir, qa)
    assert list(table.columns) == ["ndvi_mean", "ndvi_valid_fraction"]
    assert table.loc[0, "ndvi_valid_fraction"] == pytest.approx(12 / 16)
    assert table.loc[0, "ndvi_mean"] == pytest.approx((4 * VEG_NDVI + 8 * SOIL_NDVI) / 12, abs=1e-6)


def test_tile_offset_by_half_a_pixel_over_the_masked_block(tmp_path):
    # Tile x 15..75, y 45..105: rows 0-2 and columns 0-2 weigh 0.5, 1, 0.5. The cloud
    # block weighs 0.25 + 0.5 + 0.5 + 1 = 2.25 of the tile's 4 pixels; vegetation keeps
    # row 2 of columns 0-1 (0.25 + 0.5 = 0.75), soil column 2 (0.5 * 2 = 1.0).
    red, nir, qa = _scene(tmp_path, qa=_masked_block_qa())
    table = ndvi_covariates(_tiles(shapely.box(15, 45, 75, 105)), red, nir, qa)
    assert table.loc[0, "ndvi_valid_fraction"] == pytest.approx(1.75 / 4)
    expected = (0.75 * VEG_NDVI + 1.0 * SOIL_NDVI) / 1.75
    assert table.loc[0, "ndvi_mean"] == pytest.approx(expected, abs=1e-6)


def test_fully_masked_tile_is_nan(tmp_path):
    red, nir, qa = _scene(tmp_path, qa=_masked_block_qa())
    table = ndvi_covariates(
        _tiles(shapely.box(0, 60, 60, 120), shapely.box(60, 0, 120, 60)), red, nir, qa
    )
    assert np.isnan(table.loc[0, "ndvi_mean"])
    assert table.loc[0, "ndvi_valid_fraction"] == 0.0
    assert table.loc[1, "ndvi_mean"] == pytest.approx(SOIL_NDVI, abs=1e-6)
    assert table.loc[1, "ndvi_valid_fraction"] == pytest.approx(1.0)


def test_all_cloud_scene_gives_nan_and_a_warning(tmp_path):
    red, nir, qa = _scene(tmp_path, qa=np.full((4, 4), CLOUD_QA))
    with pytest.warns(UserWarning, match="Landsat raster .* no valid pixel"):
        table = ndvi_covariates(_tiles(shapely.box(0, 0, 120, 120)), red, nir, qa)
    assert table["ndvi_mean"].isna().all()
    assert (table["ndvi_valid_fraction"] == 0).all()


def test_bands_on_different_grids_are_an_input_error(tmp_path):
    red, nir, _ = _scene(tmp_path)
    shifted_qa = _write(tmp_path / "other_QA_PIXEL.TIF", np.full((4, 4), CLEAR_QA), 1, x0=15)
    with pytest.raises(InputError, match="QA_PIXEL raster .* is not on the grid of red"):
        ndvi_covariates(_tiles(shapely.box(0, 0, 60, 60)), red, nir, shifted_qa)


def test_band_without_crs_is_an_input_error(tmp_path):
    red, nir, qa = _scene(tmp_path, crs=None)
    with pytest.raises(InputError, match="Landsat red .*SR_B4.TIF has no CRS"):
        ndvi_covariates(_tiles(shapely.box(0, 0, 60, 60)), red, nir, qa)


def test_demo_city_vegetation_is_greenest_and_water_lowest(demo_city):
    tiles = demo_tiles_by_phenotype(demo_city.truth)
    table = ndvi_covariates(
        tiles, demo_city.landsat_red, demo_city.landsat_nir, demo_city.landsat_qa
    ).join(tiles["phenotype"])
    ndvi = table.groupby("phenotype")["ndvi_mean"].median()
    assert set(ndvi.index) == set(range(8))
    assert ndvi.loc[[3, 7]].min() > ndvi.loc[[0, 1]].max()
    assert ndvi.idxmin() == 6
    # The demo's cloud and its shadow are masked: some tiles lose part of their pixels.
    assert (table["ndvi_valid_fraction"] < 1).any()
    assert table["ndvi_valid_fraction"].between(0, 1).all()
