"""Exact zonal statistics: partial pixels, no data, reprojection, blocks and bad rasters."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.transform import from_origin

from satcluster.covariates.zonal import (
    check_same_grid,
    open_raster,
    tiles_in_crs,
    zonal_sums,
)
from satcluster.errors import InputError
from tests.harness.zonal_reference import area_weighted_reference

UTM = "EPSG:32630"


def _write_raster(
    path: Path,
    values: np.ndarray,
    transform: Affine,
    crs: str | None = UTM,
    nodata: float | None = None,
) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[1],
        height=values.shape[0],
        count=1,
        dtype=values.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dataset:
        dataset.write(values, 1)
    return path


def _float_values(bands: list[np.ma.MaskedArray]) -> np.ndarray:
    return bands[0].astype(np.float64).filled(np.nan)


def _zonal(path: Path, tiles: gpd.GeoSeries, **kwargs) -> gpd.pd.DataFrame:
    with open_raster(path, "test") as dataset:
        return zonal_sums(tiles, [dataset], _float_values, what="test", **kwargs)


def _tiles(*geoms: shapely.Geometry, crs: str = UTM) -> gpd.GeoSeries:
    return gpd.GeoSeries(list(geoms), index=np.arange(len(geoms)) + 100, crs=crs)


def test_checkerboard_tile_offset_by_half_a_pixel(tmp_path):
    # 10 m pixels [[1, 0], [0, 1]] over x 0..20, y 0..20. The tile x 0..15, y 5..20
    # covers the top-left pixel fully, its two neighbours by half and the
    # bottom-right one by a quarter: sum = 1 + 0.25, count = 1 + 0.5 + 0.5 + 0.25.
    path = _write_raster(
        tmp_path / "board.tif", np.array([[1, 0], [0, 1]], "float32"), from_origin(0, 20, 10, 10)
    )
    table = _zonal(path, _tiles(shapely.box(0, 5, 15, 20)))
    assert table.loc[100, "sum"] == pytest.approx(1.25)
    assert table.loc[100, "count"] == pytest.approx(2.25)
    assert table.loc[100, "sum"] / table.loc[100, "count"] == pytest.approx(5 / 9)
    assert table.loc[100, "valid_fraction"] == pytest.approx(1.0)


def test_linear_ramp_mean_with_partial_pixels(tmp_path):
    # value = col + 4 * row on a 4x4 grid of 10 m pixels. The tile x 5..25, y 15..35
    # weighs columns 0, 1, 2 and rows 0, 1, 2 by 0.5, 1, 0.5: mean column 1, mean row 1,
    # so the mean is 1 + 4 * 1 = 5 over 2 x 2 = 4 pixels' worth of area.
    ramp = (np.arange(4)[None, :] + 4 * np.arange(4)[:, None]).astype("float32")
    path = _write_raster(tmp_path / "ramp.tif", ramp, from_origin(0, 40, 10, 10))
    table = _zonal(path, _tiles(shapely.box(5, 15, 25, 35)))
    assert table.loc[100, "count"] == pytest.approx(4.0)
    assert table.loc[100, "sum"] == pytest.approx(20.0)


def test_nodata_pixels_reduce_the_valid_fraction(tmp_path):
    # Same ramp with pixel (row 1, col 1) as nodata: it weighed 1 of the 4 pixel areas.
    ramp = (np.arange(4)[None, :] + 4 * np.arange(4)[:, None]).astype("float32")
    ramp[1, 1] = -99999
    path = _write_raster(tmp_path / "ramp.tif", ramp, from_origin(0, 40, 10, 10), nodata=-99999)
    table = _zonal(path, _tiles(shapely.box(5, 15, 25, 35)))
    assert table.loc[100, "count"] == pytest.approx(3.0)
    assert table.loc[100, "sum"] == pytest.approx(20.0 - 5.0)
    assert table.loc[100, "valid_fraction"] == pytest.approx(0.75)


def test_tile_partly_outside_the_raster(tmp_path):
    # A 20 m square half outside a uniform raster of 2.0: mean 2, valid fraction 0.5.
    path = _write_raster(
        tmp_path / "flat.tif", np.full((4, 4), 2.0, "float32"), from_origin(0, 40, 10, 10)
    )
    table = _zonal(path, _tiles(shapely.box(30, 10, 50, 30)))
    assert table.loc[100, "sum"] / table.loc[100, "count"] == pytest.approx(2.0)
    assert table.loc[100, "valid_fraction"] == pytest.approx(0.5)


def test_rotated_tile_matches_brute_force_reference(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.random((20, 20)).astype("float32")
    values[3:6, 8:12] = np.nan
    transform = from_origin(0, 200, 10, 10)
    path = _write_raster(tmp_path / "random.tif", values, transform, nodata=float("nan"))
    diamond = shapely.affinity.rotate(shapely.box(40, 60, 117, 137), 27)
    table = _zonal(path, _tiles(diamond))
    ref_sum, ref_count = area_weighted_reference(diamond, values.astype(float), transform)
    assert table.loc[100, "sum"] == pytest.approx(ref_sum, rel=1e-6)
    assert table.loc[100, "count"] == pytest.approx(ref_count, rel=1e-6)


def test_tiles_reprojected_to_a_geographic_raster_match_brute_force(tmp_path):
    # 3 arc-second (~92 m) grid near Accra; a 250 m UTM tile, which is rotated against it.
    rng = np.random.default_rng(1)
    values = rng.random((30, 30)).astype("float32")
    res = 3 / 3600
    transform = from_origin(-0.2, 5.6, res, res)
    path = _write_raster(tmp_path / "geo.tif", values, transform, crs="EPSG:4326")
    utm_tile = shapely.box(811_400, 618_150, 811_650, 618_400)
    tiles = _tiles(utm_tile)
    table = _zonal(path, tiles)
    dense_lonlat = gpd.GeoSeries([shapely.segmentize(utm_tile, 1.0)], crs=UTM).to_crs(4326)
    ref_sum, ref_count = area_weighted_reference(
        dense_lonlat.iloc[0], values.astype(float), transform
    )
    assert ref_count > 4  # the tile really spans several partial pixels
    assert table.loc[100, "sum"] == pytest.approx(ref_sum, rel=1e-5)
    assert table.loc[100, "count"] == pytest.approx(ref_count, rel=1e-5)


def test_reprojection_densifies_edges():
    tiles = _tiles(shapely.box(811_400, 618_150, 811_650, 618_400))
    lonlat = tiles_in_crs(tiles, "EPSG:4326", segments_per_edge=8)
    assert shapely.get_num_coordinates(lonlat.iloc[0]) == 4 * 8 + 1
    assert tiles_in_crs(tiles, UTM) is tiles  # same CRS: untouched


def test_small_blocks_give_the_same_answer_as_one_window(tmp_path):
    rng = np.random.default_rng(2)
    values = rng.random((40, 40)).astype("float32")
    path = _write_raster(tmp_path / "random.tif", values, from_origin(0, 400, 10, 10))
    boxes = [
        shapely.box(x, y, x + 32, y + 32) for x in range(3, 360, 32) for y in range(5, 360, 32)
    ]
    tiles = _tiles(*boxes)
    whole = _zonal(path, tiles)
    blocked = _zonal(path, tiles, block_px=7)
    np.testing.assert_allclose(blocked.to_numpy(), whole.to_numpy(), rtol=1e-9)
    assert list(blocked.index) == list(tiles.index)


def test_raster_not_overlapping_the_tiles_gives_nan_and_a_warning(tmp_path):
    path = _write_raster(
        tmp_path / "far.tif", np.ones((4, 4), "float32"), from_origin(0, 40, 10, 10)
    )
    with pytest.warns(UserWarning, match="no valid pixel under any of the 2 tiles"):
        table = _zonal(path, _tiles(shapely.box(1000, 0, 1032, 32), shapely.box(0, 1000, 32, 1032)))
    assert table["sum"].isna().all()
    assert (table["count"] == 0).all()
    assert (table["valid_fraction"] == 0).all()


def test_raster_without_crs_is_an_input_error(tmp_path):
    path = _write_raster(
        tmp_path / "nocrs.tif", np.ones((4, 4), "float32"), from_origin(0, 40, 10, 10), crs=None
    )
    with pytest.raises(InputError, match="nocrs.tif has no CRS.*gdal_edit.py -a_srs"):
        open_raster(path, "population")


def test_missing_and_unreadable_rasters_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="population file not found: .*missing.tif"):
        open_raster(tmp_path / "missing.tif", "population")
    broken = tmp_path / "broken.tif"
    broken.write_text("not a raster")
    with pytest.raises(InputError, match="broken.tif cannot be read as a raster"):
        open_raster(broken, "population")


def test_bands_on_different_grids_are_an_input_error(tmp_path):
    ones = np.ones((4, 4), "uint16")
    a = _write_raster(tmp_path / "a.tif", ones, from_origin(0, 120, 30, 30))
    b = _write_raster(tmp_path / "b.tif", ones, from_origin(15, 120, 30, 30))
    with open_raster(a, "a") as first, open_raster(b, "b") as second:
        check_same_grid({"a": first, "a twin": first})
        with pytest.raises(InputError, match="b.tif is not on the grid of a raster"):
            check_same_grid({"a": first, "b": second})


def test_the_no_valid_pixel_warning_writes_plain_numbers(tmp_path):
    """Bounds as `x 0 to 40 m, ...`, never a tuple of floats or numpy reprs."""
    path = _write_raster(
        tmp_path / "far.tif", np.ones((4, 4), "float32"), from_origin(0, 40, 10, 10)
    )
    with pytest.warns(UserWarning, match="no valid pixel") as caught:
        _zonal(path, _tiles(shapely.box(1000, 0, 1032, 32)))
    text = str(caught[0].message)
    assert "x 0 to 40 m, y 0 to 40 m" in text
    assert "np." not in text and "(0.0, " not in text
