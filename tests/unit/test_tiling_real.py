"""Tiling real imagery as users have it: mixed resolutions, float64, uint16, near-square pixels.

The samples are real files beside the project (../shared/real, see its README.md); every
test skips when they are absent. Each reads small files (at most 875 x 865 px) with small
tiles, so each runs in well under a second.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from satcluster.errors import InputError
from satcluster.tiling import gather_tiles, tile_scene

# Real samples beside the project (../shared/real); tests that need them skip without it.
REAL = Path(__file__).resolve().parents[3] / "shared" / "real"
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"no real samples at {REAL}")

QUEBEC = REAL / "quebec_gdl"  # EPSG:2949, 512 x 512 px at 0.30 m and at 0.15 m
ROTTERDAM = REAL / "rotterdam_spacenet6"  # EPSG:32631: ms1 float64 4-band, pan1 uint16
BOSTON = REAL / "boston_massachusetts" / "22978945_15_uint8_clipped2.tif"  # 0.99935 x 0.99882 m
ZURICH = REAL / "zurich_detectree"  # EPSG:2056, 0.5 m; tiles/ is a strip of 25 tiles


def tile(
    path: Path | dict, tmp_path: Path, name: str, crs: str, **kwargs
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """tile_scene into tmp_path with small tiles; return the tile table and the tiles."""
    kwargs = {"size_px": 64, "max_nodata_fraction": 0.1, "window_rows": 2, **kwargs}
    table = tile_scene(
        path, name, tmp_path / f"{name}.npy", tmp_path / f"{name}.parquet", crs=crs, **kwargs
    )
    return table, np.load(tmp_path / f"{name}.npy")


def gather(tmp_path: Path, names: list[str]) -> gpd.GeoDataFrame:
    return gather_tiles(
        names,
        [tmp_path / f"{n}.npy" for n in names],
        [tmp_path / f"{n}.parquet" for n in names],
        tmp_path / "tiles.npy",
        tmp_path / "index.parquet",
    )


def test_quebec_two_resolutions_need_tiles_resolution_m(tmp_path):
    for name in ("tiled_image_1", "tiled_image_2"):
        tile(QUEBEC / f"{name}.tif", tmp_path, name, "EPSG:2949")
    with pytest.raises(
        InputError, match=r"tiled_image_1: 0.3 m, tiled_image_2: 0.15 m.*`tiles.resolution_m`"
    ):
        gather(tmp_path, ["tiled_image_1", "tiled_image_2"])


def test_quebec_two_resolutions_are_tiled_at_tiles_resolution_m(tmp_path):
    for name in ("tiled_image_1", "tiled_image_2"):
        table, tiles = tile(QUEBEC / f"{name}.tif", tmp_path, name, "EPSG:2949", resolution_m=0.3)
        assert len(table) > 0 and (table["resolution_m"] == 0.3).all()
    index = gather(tmp_path, ["tiled_image_1", "tiled_image_2"])
    assert set(index["scene"]) == {"tiled_image_1", "tiled_image_2"}  # they do not overlap
    widths = [g.bounds[2] - g.bounds[0] for g in index.geometry]
    np.testing.assert_allclose(widths, 64 * 0.3)  # one grid: 64 px of 0.3 m in both scenes


def test_rotterdam_float64_multispectral_is_stretched_to_uint8(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="satcluster"):
        table, tiles = tile(ROTTERDAM / "ms1.tif", tmp_path, "ms1", "EPSG:32631")
    assert "R, G, B, NIR" in caplog.text  # 4 bands without colour interpretation
    assert "pixels 1.00005 x 1.00005 m, tiled at 1 m" in caplog.text
    assert len(table) > 0 and (table["resolution_m"] == 1.0).all()
    assert tiles.dtype == np.uint8
    # The 2-98% stretch spreads the reflectances over the uint8 range.
    assert tiles.min() == 0 and tiles.max() == 255 and 30 < tiles.mean() < 200


def test_rotterdam_float64_nan_is_nodata(tmp_path):
    # The real file has no NaN: punch a NaN hole into a copy (its top-left 150 x 150 px).
    with rasterio.open(ROTTERDAM / "ms1.tif") as src:
        profile, data = src.profile, src.read()
    data[:, :150, :150] = np.nan
    holed = tmp_path / "ms1_nan.tif"
    with rasterio.open(holed, "w", **profile) as dst:
        dst.write(data)
    full, _ = tile(ROTTERDAM / "ms1.tif", tmp_path, "full", "EPSG:32631", size_px=32)
    table, tiles = tile(holed, tmp_path, "holed", "EPSG:32631", size_px=32)
    assert tiles.dtype == np.uint8 and 0 < len(table) < len(full)
    x0, y0 = profile["transform"].c, profile["transform"].f  # the hole: 150 m from here

    def in_hole(t: gpd.GeoDataFrame) -> np.ndarray:
        left, bottom, right, top = np.array([g.bounds for g in t.geometry]).T
        return (left >= x0) & (right <= x0 + 150) & (top <= y0) & (bottom >= y0 - 150)

    assert in_hole(full).sum() >= 9 and not in_hole(table).any()


def test_rotterdam_uint16_pan_is_stretched_and_replicated(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="satcluster"):
        table, tiles = tile(ROTTERDAM / "pan1.tif", tmp_path, "pan1", "EPSG:32631")
    assert "single-band" in caplog.text and "tiled at 0.5 m" in caplog.text
    assert len(table) > 0 and (table["resolution_m"] == 0.5).all()
    assert tiles.dtype == np.uint8 and tiles.max() == 255
    np.testing.assert_array_equal(tiles[..., 0], tiles[..., 2])  # one band, three channels


def test_boston_pixels_a_hair_off_square_are_tiled_without_resolution_m(tmp_path, caplog):
    # In its own CRS: 0.99935 x 0.99882 m pixels, which used to ask for tiles.resolution_m.
    with caplog.at_level(logging.INFO, logger="satcluster"):
        table, tiles = tile(BOSTON, tmp_path, "boston", "EPSG:26986")
    assert "pixels 0.999354 x 0.998817 m, tiled at 1 m" in caplog.text
    assert len(table) > 0 and (table["resolution_m"] == 1.0).all()
    assert (np.array([g.bounds for g in table.geometry]) % 64.0 == 0).all()
    assert tiles.std() > 10  # real pixels, not an empty resample


def test_zurich_strip_reprojected_snaps_to_one_size_and_gathers(tmp_path):
    # In EPSG:32632 the 0.5 m pixels measure 0.49979 m; the big image and the first strip
    # tiles overlap, so the gather keeps one tile per cell.
    names = ["big"] + [f"t{i:02d}" for i in range(5)]
    paths = [ZURICH / "big_img_1091-322_00.tif"] + [
        ZURICH / "tiles" / f"1091-322_{i:02d}.tif" for i in range(5)
    ]
    for name, path in zip(names, paths, strict=True):
        table, _ = tile(path, tmp_path, name, "EPSG:32632", size_px=32)
        assert (table["resolution_m"] == 0.5).all()
    index = gather(tmp_path, names)
    assert not index.duplicated(["row", "col"]).any()
    tiled = sum(len(gpd.read_parquet(tmp_path / f"{n}.parquet")) for n in names)
    assert len(index) < tiled  # overlapping cells were dropped


def test_boston_as_single_band_files_matches_the_rgb_file(tmp_path):
    # A WorldView/SpaceNet-style delivery: one file per band (written from the real scene).
    files = {}
    with rasterio.open(BOSTON) as src:
        profile = {**src.profile, "count": 1}
        profile.pop("photometric", None)
        for band, key in enumerate(("red", "green", "blue"), 1):
            files[key] = tmp_path / f"boston_{key}.tif"
            with rasterio.open(files[key], "w", **profile) as dst:
                dst.write(src.read(band), 1)
    table, tiles = tile(BOSTON, tmp_path, "file", "EPSG:26986")
    band_table, band_tiles = tile(files, tmp_path, "bands", "EPSG:26986")
    np.testing.assert_array_equal(band_tiles, tiles)
    assert band_table[["row", "col"]].equals(table[["row", "col"]])
