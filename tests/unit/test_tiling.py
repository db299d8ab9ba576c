"""Tiler exactness on small synthetic rasters: grid, pixels, nodata, overlaps, bands, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_points

from satcluster.errors import InputError
from satcluster.tiling import TileGrid, gather_tiles, snap_resolution, tile_scene, working_crs
from tests.harness.rasters import write_geotiff

CRS = "EPSG:32630"
# Pixel-aligned origin that is NOT on a tile corner: tiles of 8 px at 0.5 m are 4 m.
X0, Y0, RES, SIZE = 1001.0, 2003.0, 0.5, 8


def write_raster(path: Path, data: np.ndarray, transform=None, crs=CRS, **profile) -> Path:
    """Write a (bands, rows, cols) array as a GeoTIFF (at X0, Y0 and RES by default)."""
    return write_geotiff(path, data, transform or from_origin(X0, Y0, RES, RES), crs, **profile)


def pattern(bands: int, rows: int, cols: int, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """Random pixels without zeros (zero is the nodata value in some tests)."""
    high = 255 if dtype == np.uint8 else 60000
    return np.random.default_rng(seed).integers(1, high, (bands, rows, cols)).astype(dtype)


def run_tile(
    path: Path, tmp_path: Path, name: str = "s", **kwargs
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    kwargs = {"crs": CRS, "size_px": SIZE, "max_nodata_fraction": 0.5, **kwargs}
    table = tile_scene(path, name, tmp_path / f"{name}.npy", tmp_path / f"{name}.parquet", **kwargs)
    return table, np.load(tmp_path / f"{name}.npy")


def test_grid_cells_and_boxes_are_anchored_at_the_crs_origin():
    grid = TileGrid(working_crs(CRS), size_px=8, resolution_m=0.5)
    rows, cols = grid.cell_range((1001.0, 1988.0, 1021.0, 2003.0))
    assert (rows, cols) == (range(-501, -497), range(250, 256))
    box = grid.boxes(np.array([-501]), np.array([250]))[0]
    assert box.bounds == (1000.0, 2000.0, 1004.0, 2004.0)
    assert grid.transform(-501, 250).c == 1000.0 and grid.transform(-501, 250).f == 2004.0


def test_tile_bounds_and_pixels_match_the_scene_transform(tmp_path):
    # 40 x 30 px scene at (1001, 2003): x 1001..1021, y 1988..2003.
    data = pattern(3, 30, 40)
    table, tiles = run_tile(
        write_raster(tmp_path / "a.tif", data), tmp_path, max_nodata_fraction=1.0
    )
    # Every intersecting cell is listed (max_nodata_fraction=1 keeps all): rows -501..-498, cols 250..255.
    assert len(table) == len(tiles) == 4 * 6
    assert table["row"].tolist() == sorted(table["row"].tolist())
    for tile, (_, t) in zip(tiles, table.iterrows(), strict=True):
        left, top = t["col"] * 4.0, -t["row"] * 4.0
        assert t.geometry.equals(shapely.box(left, top - 4.0, left + 4.0, top))
        # Source pixel of the tile's top-left corner (may lie outside the scene).
        r0, c0 = round((Y0 - top) / RES), round((left - X0) / RES)
        expected = np.zeros((SIZE, SIZE, 3), np.uint8)
        rs, cs = slice(max(r0, 0), min(r0 + SIZE, 30)), slice(max(c0, 0), min(c0 + SIZE, 40))
        window = data[:, rs, cs].transpose(1, 2, 0)
        expected[rs.start - r0 : rs.stop - r0, cs.start - c0 : cs.stop - c0] = window
        np.testing.assert_array_equal(tile, expected)
        inside = window.shape[0] * window.shape[1]
        assert t["nodata_fraction"] == pytest.approx(1 - inside / SIZE**2)
    # Corner cell (-501, 250) covers x 1000..1004, y 2000..2004: scene has x 1001..1004,
    # y 2000..2003 -> 6 x 6 of 64 pixels valid.
    corner = table[(table["row"] == -501) & (table["col"] == 250)].iloc[0]
    assert corner["nodata_fraction"] == pytest.approx(1 - 36 / 64)


def masked_scene(kind: str, tmp_path: Path) -> Path:
    """16 x 16 px scene on tile corners (4 tiles) with 0, 16, 17 and 64 masked pixels per tile."""
    data = pattern(3, 16, 16)
    valid = np.ones((16, 16), bool)
    valid[0:2, 8:16] = False  # top-right tile: 16 of 64 masked = 0.25
    valid[8:10, 0:8] = False  # bottom-left tile: 16 + 1 = 17 masked
    valid[10, 0] = False
    valid[8:16, 8:16] = False  # bottom-right tile: all masked
    transform = from_origin(1000.0, 2000.0, RES, RES)
    path = tmp_path / f"{kind}.tif"
    if kind == "nodata":
        return write_raster(path, data * valid, transform, nodata=0)
    if kind == "nodata_4band":  # R, G, B, NIR: the mask comes from GDAL over all four bands
        rgbn = np.concatenate([data, pattern(1, 16, 16, seed=5)]) * valid
        undefined = [ColorInterp.gray] + [ColorInterp.undefined] * 3
        return write_raster(path, rgbn, transform, nodata=0, colorinterp=undefined)
    if kind == "alpha":
        alpha = (valid * 255).astype(np.uint8)[None]
        interps = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
        return write_raster(path, np.concatenate([data, alpha]), transform, colorinterp=interps)
    return write_raster(path, data, transform, mask=valid)


@pytest.mark.parametrize("kind", ["nodata", "nodata_4band", "alpha", "mask"])
def test_nodata_tiles_are_dropped_at_the_threshold(kind, tmp_path):
    table, tiles = run_tile(masked_scene(kind, tmp_path), tmp_path, max_nodata_fraction=0.25)
    assert list(zip(table["row"], table["col"], strict=True)) == [(-500, 250), (-500, 251)]
    assert table["nodata_fraction"].tolist() == [0.0, 0.25]
    assert tiles.shape == (2, SIZE, SIZE, 3)
    # Masked pixels of a kept tile are 0, the others are the source's.
    assert (tiles[1, 0:2] == 0).all() and (tiles[1, 2:] > 0).all()


def test_overlapping_scenes_give_each_cell_once_best_then_earliest(tmp_path):
    # Scene a: cells (-500, 250..252); scene b: cells (-500, 251..253). Both 8 px high.
    a = pattern(3, 8, 24, seed=1)
    a[:, 0:4, 8:16] = 0  # cell 251 is half nodata in a -> b's full tile wins there
    b = pattern(3, 8, 24, seed=2)
    path_a = write_raster(tmp_path / "a.tif", a, from_origin(1000.0, 2000.0, RES, RES), nodata=0)
    path_b = write_raster(tmp_path / "b.tif", b, from_origin(1004.0, 2000.0, RES, RES), nodata=0)
    run_tile(path_a, tmp_path, "a")
    run_tile(path_b, tmp_path, "b")
    for order in (["a", "b"], ["b", "a"]):
        index = gather_tiles(
            order,
            [tmp_path / f"{s}.npy" for s in order],
            [tmp_path / f"{s}.parquet" for s in order],
            tmp_path / "tiles.npy",
            tmp_path / "index.parquet",
        )
        tiles = np.load(tmp_path / "tiles.npy", mmap_mode="r")
        assert index["col"].tolist() == [250, 251, 252, 253]  # each cell once, in order
        # 251: b is complete, a half empty -> b; 252: tie -> the earlier scene.
        assert index["scene"].tolist() == ["a", "b", order[0], "b"]
        source = {"a": (a, 1000.0), "b": (b, 1004.0)}
        for tile, scene, col in zip(tiles, index["scene"], index["col"], strict=True):
            data, x0 = source[scene]
            c0 = round((col * 4.0 - x0) / RES)
            np.testing.assert_array_equal(tile, data[:, :, c0 : c0 + 8].transpose(1, 2, 0))


def test_four_band_imagery_uses_colour_interpretation_else_bands_1_to_3(tmp_path, caplog):
    data = pattern(4, 8, 8)
    undefined = [
        ColorInterp.gray,
        ColorInterp.undefined,
        ColorInterp.undefined,
        ColorInterp.undefined,
    ]
    path = write_raster(
        tmp_path / "rgbn.tif", data, colorinterp=undefined, photometric="MINISBLACK"
    )
    with caplog.at_level(logging.INFO, logger="satcluster"):
        _, tiles = run_tile(path, tmp_path, max_nodata_fraction=1.0)
    assert "R, G, B, NIR" in caplog.text
    inside = tiles[tiles.any(axis=(1, 2, 3))]
    assert set(np.unique(inside)) <= set(np.unique(data[:3])) | {0}
    # B, G, R, NIR order declared in the colour interpretation: channels come out as R, G, B.
    bgrn = [ColorInterp.blue, ColorInterp.green, ColorInterp.red, ColorInterp.undefined]
    aligned = from_origin(1000.0, 2000.0, RES, RES)
    path = write_raster(
        tmp_path / "bgrn.tif", data, aligned, colorinterp=bgrn, photometric="MINISBLACK"
    )
    _, tiles = run_tile(path, tmp_path, "bgrn")
    np.testing.assert_array_equal(tiles[0], data[[2, 1, 0]].transpose(1, 2, 0))


def test_rgb_and_rgba_give_the_rgb_channels(tmp_path):
    data = pattern(3, 8, 8)
    aligned = from_origin(1000.0, 2000.0, RES, RES)
    _, rgb = run_tile(write_raster(tmp_path / "rgb.tif", data, aligned), tmp_path, "rgb")
    alpha = np.full((1, 8, 8), 255, np.uint8)
    interps = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    rgba_path = write_raster(
        tmp_path / "rgba.tif", np.concatenate([data, alpha]), aligned, colorinterp=interps
    )
    _, rgba = run_tile(rgba_path, tmp_path, "rgba")
    np.testing.assert_array_equal(rgb[0], data.transpose(1, 2, 0))
    np.testing.assert_array_equal(rgba, rgb)


def test_single_band_is_replicated_with_a_warning(tmp_path, caplog):
    data = pattern(1, 8, 8)
    path = write_raster(tmp_path / "pan.tif", data, from_origin(1000.0, 2000.0, RES, RES))
    with caplog.at_level(logging.WARNING, logger="satcluster"):
        _, tiles = run_tile(path, tmp_path)
    assert "single-band" in caplog.text
    np.testing.assert_array_equal(tiles[0], np.repeat(data[0][:, :, None], 3, axis=2))


def test_uint16_is_scaled_by_the_percentiles(tmp_path):
    # Band b holds 100*b + 0..63 (64 distinct values per band, each once).
    values = np.arange(64, dtype=np.uint16).reshape(8, 8)
    data = np.stack([values + 100 * b for b in (1, 2, 3)]).astype(np.uint16)
    path = write_raster(tmp_path / "u16.tif", data, from_origin(1000.0, 2000.0, RES, RES))
    _, tiles = run_tile(path, tmp_path, uint16_percentiles=[0, 100])
    # Min -> 0 and max -> 255 per band: v -> round((v - min) * 255 / 63).
    expected = np.round(values * 255 / 63).astype(np.uint8)
    for band in range(3):
        np.testing.assert_array_equal(tiles[0, :, :, band], expected)
    # Percentiles 10/90 (linear interpolation: 6.3 and 56.7) clip the tails.
    _, tiles = run_tile(path, tmp_path, "p", uint16_percentiles=[10, 90])
    clipped = np.clip(np.round((values - 6.3) * 255 / 50.4), 0, 255).astype(np.uint8)
    assert clipped[0, 0] == 0 and clipped[7, 7] == 255
    np.testing.assert_array_equal(tiles[0, :, :, 0], clipped)


def test_geographic_imagery_is_warped_to_the_working_crs(tmp_path):
    # 0.0002 deg (~22 m) square near Accra in EPSG:4326; red = column, green = row.
    lon0, lat0, step, n = -0.2, 5.56, 0.0002 / 40, 40
    cols, rows = np.meshgrid(np.arange(n), np.arange(n))
    data = np.stack([cols * 5 + 10, rows * 5 + 10, np.full((n, n), 100)]).astype(np.uint8)
    path = write_raster(
        tmp_path / "geo.tif", data, from_origin(lon0, lat0, step, step), crs="EPSG:4326"
    )
    table, tiles = run_tile(path, tmp_path, resolution_m=0.5, max_nodata_fraction=0.0)
    assert len(table) > 0 and table.crs == working_crs(CRS)
    # Tiles lie on the 4 m grid and inside the scene's footprint in EPSG:32630.
    assert (np.array([g.bounds for g in table.geometry]) % 4.0 == 0).all()
    xs, ys = warp_points(
        "EPSG:4326",
        CRS,
        [lon0, lon0 + n * step, lon0 + n * step, lon0],
        [lat0, lat0, lat0 - n * step, lat0 - n * step],
    )
    footprint = shapely.Polygon(zip(xs, ys, strict=True))
    assert footprint.buffer(1e-6).contains(shapely.union_all(table.geometry.values))
    # A tile's centre pixel shows the source pixel at the same place.
    tile, geom = tiles[0], table.geometry.iloc[0]
    cx, cy = geom.bounds[0] + 2.25, geom.bounds[3] - 2.25  # centre of pixel (4, 4)
    (lon,), (lat,) = warp_points(CRS, "EPSG:4326", [cx], [cy])
    col, row = (lon - lon0) / step, (lat0 - lat) / step
    assert tile[4, 4, 0] == pytest.approx(5 * (col - 0.5) + 10, abs=3)
    assert tile[4, 4, 1] == pytest.approx(5 * (row - 0.5) + 10, abs=3)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found.*nope.tif"):
        run_tile(tmp_path / "nope.tif", tmp_path)


def test_raster_without_crs_is_an_input_error(tmp_path):
    path = write_raster(tmp_path / "nocrs.tif", pattern(3, 8, 8), crs=None)
    with pytest.raises(InputError, match="no CRS.*gdal_edit"):
        run_tile(path, tmp_path)
    assert not list(tmp_path.glob("s.*"))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_geotiff_is_an_input_error_and_leaves_no_output(damage, tmp_path):
    path = tmp_path / "bad.tif"
    if damage == "garbage":
        path.write_bytes(b"this is not a GeoTIFF" * 100)
    else:
        write_raster(path, pattern(3, 64, 64), compress="deflate")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="bad.tif"):
        run_tile(path, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tif"]  # no partial or temp files


@pytest.mark.parametrize(
    ("dtype", "profile", "crs"),
    [
        (np.uint16, {}, CRS),  # fails in the decimated percentile read
        (np.uint8, {"nodata": 0}, CRS),  # fails in the direct windowed read
        (np.uint8, {}, "EPSG:32631"),  # fails in the warped read
        (np.uint8, {"tiled": True, "blockxsize": 16, "blockysize": 16}, CRS),
    ],
    ids=["uint16", "nodata", "warped", "tiled"],
)
def test_truncated_geotiff_in_every_read_path_is_an_input_error(dtype, profile, crs, tmp_path):
    path = write_raster(
        tmp_path / "cut.tif",
        pattern(3, 128, 128, dtype),
        compress="deflate",
        crs=crs,
        transform=from_origin(500_000.0, 2000.0, RES, RES),
        **profile,
    )
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match=r"cut.tif.*(corrupt or unreadable|cannot be read).*re-"):
        run_tile(path, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tif"]  # no partial or temp files


def test_unsupported_dtype_and_geographic_working_crs_are_input_errors(tmp_path):
    path = write_raster(tmp_path / "i.tif", pattern(3, 8, 8).astype(np.int16))
    with pytest.raises(InputError, match="int16.*uint8, uint16 or float32"):
        run_tile(path, tmp_path)
    path = write_raster(tmp_path / "ok.tif", pattern(3, 8, 8))
    with pytest.raises(InputError, match="`crs`.*projected"):
        run_tile(path, tmp_path, crs="EPSG:4326")


def test_nothing_kept_is_an_input_error_naming_the_threshold(tmp_path, caplog):
    data = pattern(3, 8, 8)
    data[:, :4] = 0  # half of the only tile is nodata
    path = write_raster(
        tmp_path / "half.tif", data, from_origin(1000.0, 2000.0, RES, RES), nodata=0
    )
    with caplog.at_level(logging.WARNING, logger="satcluster"):
        table, tiles = run_tile(path, tmp_path, max_nodata_fraction=0.1)
    assert len(table) == 0 and tiles.shape == (0, SIZE, SIZE, 3)
    assert "max_nodata_fraction" in caplog.text
    with pytest.raises(InputError, match="tiles.max_nodata_fraction"):
        gather_tiles(
            ["s"],
            [tmp_path / "s.npy"],
            [tmp_path / "s.parquet"],
            tmp_path / "tiles.npy",
            tmp_path / "index.parquet",
        )
    assert not (tmp_path / "tiles.npy").exists() and not (tmp_path / "index.parquet").exists()


def test_scenes_with_different_native_resolutions_need_tiles_resolution_m(tmp_path):
    run_tile(write_raster(tmp_path / "a.tif", pattern(3, 8, 8)), tmp_path, "a")
    coarse = write_raster(tmp_path / "b.tif", pattern(3, 8, 8), from_origin(X0, Y0, 1.0, 1.0))
    run_tile(coarse, tmp_path, "b")
    with pytest.raises(InputError, match="tiles.resolution_m"):
        gather_tiles(
            ["a", "b"],
            [tmp_path / "a.npy", tmp_path / "b.npy"],
            [tmp_path / "a.parquet", tmp_path / "b.parquet"],
            tmp_path / "tiles.npy",
            tmp_path / "index.parquet",
        )


def test_scene_jobs_and_gather_write_agreeing_tiles_and_index(tmp_path):
    """What the tile_scene and gather_tiles scripts do, on two overlapping scenes."""
    scenes = {"west": pattern(3, 40, 48, seed=3), "east": pattern(3, 40, 48, seed=4)}
    origins = {"west": (1000.0, 2000.0), "east": (1012.0, 1998.0)}
    for name, data in scenes.items():
        path = write_raster(tmp_path / f"{name}.tif", data, from_origin(*origins[name], RES, RES))
        tile_scene(
            path,
            name,
            tmp_path / f"scenes/{name}.npy",
            tmp_path / f"scenes/{name}.parquet",
            crs=CRS,
            size_px=SIZE,
            resolution_m=None,
            max_nodata_fraction=0.1,
            uint16_percentiles=[2, 98],
            window_rows=2,
        )
    index = gather_tiles(
        list(scenes),
        [tmp_path / f"scenes/{s}.npy" for s in scenes],
        [tmp_path / f"scenes/{s}.parquet" for s in scenes],
        tmp_path / "tiles.npy",
        tmp_path / "index.parquet",
    )
    stored = gpd.read_parquet(tmp_path / "index.parquet")
    tiles = np.load(tmp_path / "tiles.npy", mmap_mode="r")
    assert list(stored.columns) == ["tile_id", "scene", "row", "col", "nodata_fraction", "geometry"]
    assert stored["tile_id"].dtype == np.int64 and stored.crs == working_crs(CRS)
    assert stored["tile_id"].tolist() == list(range(len(tiles))) == index["tile_id"].tolist()
    assert tiles.dtype == np.uint8 and tiles.shape[1:] == (SIZE, SIZE, 3)
    assert not stored.duplicated(["row", "col"]).any()
    assert stored[["row", "col"]].apply(tuple, axis=1).is_monotonic_increasing
    # west: x 1000..1024, y 1980..2000 -> 6 x 5 full cells. east: x 1012..1036, y 1978..1998
    # -> full cells only for y 1980..1996 (4 rows; the half-covered rows exceed 0.1 nodata);
    # its first 3 columns tie with west (west is earlier), so east adds 3 x 4 = 12 cells.
    assert (stored["scene"] == "west").sum() == 30 and (stored["scene"] == "east").sum() == 12
    for t in stored.itertuples():
        left, top = t.col * 4.0, -t.row * 4.0
        assert t.geometry.equals(shapely.box(left, top - 4.0, left + 4.0, top))
        x0, y0 = origins[t.scene]
        r0, c0 = round((y0 - top) / RES), round((left - x0) / RES)
        expected = scenes[t.scene][:, r0 : r0 + SIZE, c0 : c0 + SIZE].transpose(1, 2, 0)
        np.testing.assert_array_equal(tiles[t.tile_id], expected)


# --- Pixel sizes: snapped to a round value within 1%, so that per-scene jobs agree ---------


def gather(tmp_path: Path, names: list[str]) -> gpd.GeoDataFrame:
    """gather_tiles over scenes already tiled by run_tile into tmp_path."""
    return gather_tiles(
        names,
        [tmp_path / f"{s}.npy" for s in names],
        [tmp_path / f"{s}.parquet" for s in names],
        tmp_path / "tiles.npy",
        tmp_path / "index.parquet",
    )


@pytest.mark.parametrize(
    ("native", "snapped"),
    [
        (0.5, 0.5),
        (0.500435, 0.5),
        (0.499771, 0.5),
        (0.4987, 0.5),
        (0.99935, 1.0),
        (0.99882, 1.0),
        (1.0030891, 1.0),
        (0.30000000000001137, 0.3),
        (0.15009664, 0.15),
        (0.52, 0.52),
        (0.3887054, 0.39),
        (0.1946140, 0.195),
        (30.0, 30.0),
    ],
)
def test_native_sizes_snap_to_the_roundest_value_within_one_percent(native, snapped):
    assert snap_resolution(native) == snapped


def test_snapped_sizes_are_always_within_one_percent():
    for size in np.random.default_rng(0).uniform(0.01, 100, 2000):
        assert abs(snap_resolution(size) - size) <= 0.01 * snap_resolution(size)


def test_pixels_a_hair_off_square_are_tiled_at_the_round_size_and_logged(tmp_path, caplog):
    path = write_raster(
        tmp_path / "wv.tif", pattern(3, 40, 40), from_origin(X0, Y0, 0.500435, 0.499771)
    )
    with caplog.at_level(logging.INFO, logger="satcluster"):
        table, tiles = run_tile(path, tmp_path, max_nodata_fraction=0.0)
    assert "pixels 0.500435 x 0.499771 m, tiled at 0.5 m" in caplog.text
    assert len(table) > 0 and (table["resolution_m"] == 0.5).all()
    assert (np.array([g.bounds for g in table.geometry]) % 4.0 == 0).all()  # 8 px of 0.5 m
    assert tiles.shape[1:] == (SIZE, SIZE, 3) and tiles.any()


def test_a_scene_exactly_at_the_round_size_is_read_pixel_for_pixel(tmp_path, caplog):
    data = pattern(3, 8, 8)
    path = write_raster(tmp_path / "exact.tif", data, from_origin(1000.0, 2000.0, RES, RES))
    with caplog.at_level(logging.INFO, logger="satcluster"):
        _, tiles = run_tile(path, tmp_path)
    assert "tiled at 0.5 m (native)" in caplog.text and "direct read" in caplog.text
    np.testing.assert_array_equal(tiles[0], data.transpose(1, 2, 0))


def test_pixels_more_than_one_percent_off_square_need_tiles_resolution_m(tmp_path):
    path = write_raster(tmp_path / "oblong.tif", pattern(3, 8, 8), from_origin(X0, Y0, 0.5, 0.48))
    with pytest.raises(InputError, match=r"oblong.tif.*not square \(0.5 x 0.48 m.*resolution_m"):
        run_tile(path, tmp_path)
    table, _ = run_tile(path, tmp_path, resolution_m=0.5)  # resampled when it is set
    assert (table["resolution_m"] == 0.5).all()


def test_scenes_of_nearly_equal_pixel_size_gather_on_one_grid(tmp_path):
    run_tile(write_raster(tmp_path / "a.tif", pattern(3, 24, 24, seed=1)), tmp_path, "a")
    b = write_raster(
        tmp_path / "b.tif", pattern(3, 24, 24, seed=2), from_origin(X0 + 6, Y0, 0.4987, 0.4987)
    )
    run_tile(b, tmp_path, "b")
    index = gather(tmp_path, ["a", "b"])
    assert set(index["scene"]) == {"a", "b"} and not index.duplicated(["row", "col"]).any()
    assert (gpd.read_parquet(tmp_path / "b.parquet")["resolution_m"] == 0.5).all()


@pytest.mark.parametrize(("first", "second"), [(0.30, 0.15), (0.5, 0.52)])
def test_sizes_more_than_one_percent_apart_are_refused_at_the_gather(first, second, tmp_path):
    for name, res in (("a", first), ("b", second)):
        path = write_raster(
            tmp_path / f"{name}.tif", pattern(3, 24, 24), from_origin(X0, Y0, res, res)
        )
        run_tile(path, tmp_path, name)
    with pytest.raises(InputError, match=rf"a: {first:g} m, b: {second:g} m.*`tiles.resolution_m`"):
        gather(tmp_path, ["a", "b"])
    for name in ("a", "b"):  # with tiles.resolution_m both are resampled to one size
        run_tile(tmp_path / f"{name}.tif", tmp_path, name, resolution_m=first)
    assert len(gather(tmp_path, ["a", "b"])) > 0
    for name in ("a", "b"):
        assert (gpd.read_parquet(tmp_path / f"{name}.parquet")["resolution_m"] == first).all()


# --- Float imagery: stretched like uint16, NaN (and the nodata value) as nodata ------------


@pytest.mark.parametrize(
    ("dtype", "nodata"),
    [(np.float32, None), (np.float32, float("nan")), (np.float64, -9999.0)],
    ids=["float32-nan", "float32-nodata-nan", "float64-nodata-value"],
)
def test_float_imagery_is_stretched_and_nan_is_nodata(dtype, nodata, tmp_path):
    # 16 x 16 px on tile corners (4 tiles of 8 px): reflectances 0.01 * (0..255) + band.
    values = np.arange(256, dtype=np.float64).reshape(16, 16) * 0.01
    data = np.stack([values + b for b in (0, 1, 2)]).astype(dtype)
    missing = np.zeros((16, 16), bool)
    missing[0:2, 8:16] = True  # top-right tile: 16 of 64 missing = 0.25
    missing[8:16, 8:16] = True  # bottom-right tile: all missing
    missing[8:11, 0:8] = True  # bottom-left tile: 24 missing, over the threshold
    data[:, missing] = np.nan if nodata is None or np.isnan(nodata) else nodata
    transform = from_origin(1000.0, 2000.0, RES, RES)
    path = write_raster(tmp_path / "f.tif", data, transform, nodata=nodata)
    table, tiles = run_tile(path, tmp_path, max_nodata_fraction=0.25, uint16_percentiles=[0, 100])
    assert tiles.dtype == np.uint8
    assert list(zip(table["row"], table["col"], strict=True)) == [(-500, 250), (-500, 251)]
    assert table["nodata_fraction"].tolist() == [0.0, 0.25]
    # The valid pixels' min -> 0 and max -> 255 per band; missing pixels of kept tiles are 0.
    valid = values[~missing]
    expected = np.clip((values - valid.min()) * 255 / (valid.max() - valid.min()), 0, 255)
    got = np.concatenate([tiles[0], tiles[1]], axis=1)  # the top 8 rows, 16 columns
    for band in range(3):
        np.testing.assert_allclose(
            got[:, :, band][~missing[:8]], expected[:8][~missing[:8]], atol=1
        )
    assert (tiles[1, 0:2] == 0).all()


def test_float_imagery_with_nan_is_warped_with_nan_as_nodata(tmp_path):
    # x 1001..1017 (32 px of 0.5 m), the east half (x >= 1009) NaN; warped to 0.4 m pixels.
    data = pattern(3, 32, 32, np.uint16).astype(np.float32) / 60000
    data[:, :, 16:] = np.nan
    path = write_raster(tmp_path / "w.tif", data)
    table, tiles = run_tile(path, tmp_path, resolution_m=0.4, max_nodata_fraction=1.0)
    assert len(table) > 0 and tiles.dtype == np.uint8
    left, _, right, _ = np.array([g.bounds for g in table.geometry]).T
    inside_y = np.array([g.bounds[1] >= 1987 and g.bounds[3] <= 2003 for g in table.geometry])
    assert (table["nodata_fraction"][(left >= 1009.5) & inside_y] == 1.0).all()
    assert (table["nodata_fraction"][(left >= 1001) & (right <= 1008.5) & inside_y] == 0.0).all()
    assert tiles[(table["nodata_fraction"] == 0.0).to_numpy()].std() > 20  # stretched, not flat


# --- Band files: {red, green, blue} on one grid, read as one 3-band scene ------------------


def split_bands(path: Path, tmp_path: Path, nir: bool = False) -> dict[str, Path]:
    """Write each band of ``path`` as its own single-band GeoTIFF; return {colour: path}."""
    files = {}
    with rasterio.open(path) as src, rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        profile = {**src.profile, "count": 1}
        profile.pop("photometric", None)
        masked = MaskFlags.per_dataset in src.mask_flag_enums[0]
        for band, key in enumerate(("red", "green", "blue", "nir")[: src.count], 1):
            files[key] = tmp_path / f"{path.stem}_{key}.tif"
            with rasterio.open(files[key], "w", **profile) as dst:
                dst.write(src.read(band), 1)
                if masked:  # each band file carries the scene's mask, as deliveries do
                    dst.write_mask(src.dataset_mask())
    if nir and "nir" not in files:
        files["nir"] = files["blue"]
    return files


@pytest.mark.parametrize(
    "case", ["direct", "warped", "nodata", "mask", "mask-warped", "uint16", "float32", "nir"]
)
def test_band_files_give_the_same_tiles_as_the_3_band_file(case, tmp_path, caplog):
    dtype = {"uint16": np.uint16, "float32": np.float32}.get(case, np.uint8)
    data = pattern(3, 30, 40, dtype, seed=9)
    profile = {}
    if case == "nodata":
        data[:, 0:12, 0:10] = 0
        profile["nodata"] = 0
    if case.startswith("mask"):
        profile["mask"] = np.ones((30, 40), bool)
        profile["mask"][5:20, 3:30] = False
    if case == "float32":
        data[:, 0:12, 0:10] = np.nan
    path = write_raster(tmp_path / "rgb.tif", data, **profile)
    kwargs = {"resolution_m": 0.4} if case.endswith("warped") else {}
    table, tiles = run_tile(path, tmp_path, "file", **kwargs)
    files = split_bands(path, tmp_path, nir=case == "nir")
    with caplog.at_level(logging.INFO, logger="satcluster"):
        band_table, band_tiles = run_tile(files, tmp_path, "bands", **kwargs)
    assert len(table) > 0
    np.testing.assert_array_equal(band_tiles, tiles)
    cols = ["row", "col", "nodata_fraction", "resolution_m"]
    assert band_table[cols].equals(table[cols])
    assert ("nir band file is not read" in caplog.text) == (case == "nir")


def test_band_files_are_read_in_red_green_blue_order(tmp_path):
    data = pattern(3, 8, 8)
    folder = tmp_path / "R&D <2024> 'delivery'"  # characters that XML must escape
    folder.mkdir()
    path = write_raster(folder / "rgb.tif", data, from_origin(1000.0, 2000.0, RES, RES))
    files = split_bands(path, folder)
    shuffled = {"blue": files["blue"], "red": files["red"], "green": files["green"]}
    _, tiles = run_tile(shuffled, tmp_path, "bands")
    np.testing.assert_array_equal(tiles[0], data.transpose(1, 2, 0))


@pytest.mark.parametrize("problem", ["transform", "size", "crs", "dtype", "bands", "nodata"])
def test_band_files_not_on_one_grid_are_an_input_error_naming_them(problem, tmp_path):
    one = pattern(1, 16, 16)
    files = {key: write_raster(tmp_path / f"{key}.tif", one) for key in ("red", "green")}
    blue = {
        "transform": lambda p: write_raster(p, one, from_origin(X0 + 0.5, Y0, RES, RES)),
        "size": lambda p: write_raster(p, pattern(1, 16, 17)),
        "crs": lambda p: write_raster(p, one, crs="EPSG:32631"),
        "dtype": lambda p: write_raster(p, one.astype(np.uint16)),
        "bands": lambda p: write_raster(p, pattern(3, 16, 16)),
        "nodata": lambda p: write_raster(p, one, nodata=255),
    }
    files["blue"] = blue[problem](tmp_path / "blue.tif")
    if problem == "nodata":
        files["red"] = write_raster(tmp_path / "red.tif", one, nodata=0)
    words = {"transform": "transform", "size": "size", "crs": "CRS", "dtype": "data type"}
    message = {"bands": r"one band each.*blue.tif \(3 bands\)", "nodata": "different nodata"}
    pattern_ = message.get(problem, f"red.tif.*green.tif.*blue.tif.*differ in {words.get(problem)}")
    with pytest.raises(InputError, match=pattern_):
        run_tile(files, tmp_path)
    assert not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize(
    "keys", [("red", "green"), ("red", "green", "blue", "alpha")], ids=["missing", "unknown"]
)
def test_band_mapping_keys_are_checked(keys, tmp_path):
    path = write_raster(tmp_path / "b.tif", pattern(1, 8, 8))
    with pytest.raises(InputError, match=r"inputs.imagery.*red: path, green: path, blue: path"):
        run_tile(dict.fromkeys(keys, path), tmp_path)


def test_missing_band_file_is_an_input_error_naming_it(tmp_path):
    path = write_raster(tmp_path / "r.tif", pattern(1, 8, 8))
    with pytest.raises(InputError, match="not found.*gone.tif"):
        run_tile({"red": path, "green": path, "blue": tmp_path / "gone.tif"}, tmp_path)


# --- Fast paths: the same bytes as the plain way of doing it -------------------------------


def direct_cut(pixels, valid, size, max_nodata_fraction):
    """The plain cut: all kept tiles of a window at once, masked pixels set to 0."""
    n_rows, n_cols = valid.shape[0] // size, valid.shape[1] // size
    valid_blocks = valid.reshape(n_rows, size, n_cols, size).transpose(0, 2, 1, 3)
    nodata = 1.0 - valid_blocks.sum(axis=(2, 3)) / float(size * size)
    rows, cols = np.nonzero(nodata <= max_nodata_fraction)
    blocks = pixels.reshape(n_rows, size, n_cols, size, 3).transpose(0, 2, 1, 3, 4)
    tiles = blocks[rows, cols].copy()
    tiles[~valid_blocks[rows, cols]] = 0
    return np.stack([rows, cols], axis=1), tiles, nodata[rows, cols]


@pytest.mark.parametrize("size", [8, 256])  # 256: valid pixels per tile no longer fit a byte
def test_cutting_row_by_row_gives_the_tiles_of_a_direct_cut(size):
    from satcluster.tiling.scene import _cut_tiles, _kept_cells

    rng = np.random.default_rng(5)
    n_rows, n_cols = 3, 7
    pixels = rng.integers(1, 256, (n_rows * size, n_cols * size, 3), dtype=np.uint8)
    valid = np.ones(pixels.shape[:2], bool)
    valid[:, : size // 2] = False  # a scene edge halfway into the first column
    valid[size : 2 * size, 2 * size : 4 * size] = rng.random((size, 2 * size)) > 0.05
    valid[2 * size :, 5 * size : 6 * size] = False  # kept columns with a gap: two runs
    cells, fractions = _kept_cells(valid, size, 0.1)
    out = np.empty((n_cols, size, size, 3), np.uint8)
    tiles = np.concatenate([t.copy() for t in _cut_tiles(pixels, valid, cells, fractions, out)])
    expected = direct_cut(pixels, valid, size, 0.1)
    np.testing.assert_array_equal(cells, expected[0])
    np.testing.assert_array_equal(tiles, expected[1])
    np.testing.assert_array_equal(fractions, expected[2])
    assert (fractions > 0).sum() > 0 and len(cells) < n_rows * n_cols  # both cases covered


@pytest.mark.parametrize("nodata", [0, 255])
def test_nodata_is_found_whether_or_not_the_value_occurs(nodata, tmp_path):
    on_tiles = from_origin(1000.0, 2000.0, RES, RES)  # 2 x 2 tiles
    data = pattern(3, 16, 16)  # values 1..254: no pixel is nodata, the quick check says so
    a = write_raster(tmp_path / "a.tif", data, on_tiles, nodata=nodata)
    table, _ = run_tile(a, tmp_path, "a")
    assert table["nodata_fraction"].tolist() == [0.0] * 4
    data[0, 0:2, 0] = nodata  # one band at the nodata value: still valid
    data[:, 9, 10:12] = nodata  # all bands: nodata
    b = write_raster(tmp_path / "b.tif", data, on_tiles, nodata=nodata)
    table, tiles = run_tile(b, tmp_path, "b")
    assert table["nodata_fraction"].tolist() == [0.0, 0.0, 0.0, 2 / 64]
    assert (tiles[3, 1, 2:4] == 0).all() and tiles[0, 0:2, 0, 0].tolist() == [nodata] * 2


def test_gather_of_one_scene_copies_its_file_whole_as_the_runs_would(tmp_path, monkeypatch):
    from satcluster.tiling import gather as gather_module

    path = write_raster(tmp_path / "s.tif", pattern(3, 24, 40), nodata=0)
    run_tile(path, tmp_path, "s", max_nodata_fraction=0.1)
    whole = []
    real = gather_module._whole_scene
    monkeypatch.setattr(
        gather_module, "_whole_scene", lambda *a: whole.append(real(*a)) or whole[-1]
    )
    gather(tmp_path, ["s"])
    assert whole == [0]
    fast = (tmp_path / "tiles.npy").read_bytes()
    assert fast == (tmp_path / "s.npy").read_bytes()
    monkeypatch.setattr(gather_module, "_whole_scene", lambda *a: None)  # the general path
    gather(tmp_path, ["s"])
    assert (tmp_path / "tiles.npy").read_bytes() == fast
    np.testing.assert_array_equal(np.load(tmp_path / "tiles.npy"), np.load(tmp_path / "s.npy"))


def test_gather_of_two_contributing_scenes_copies_run_by_run(tmp_path, monkeypatch):
    from satcluster.tiling import gather as gather_module

    for name, x0 in (("a", 1000.0), ("b", 1004.0)):
        data = pattern(3, 8, 24, seed=len(name))
        write_raster(tmp_path / f"{name}.tif", data, from_origin(x0, 2000.0, RES, RES))
        run_tile(tmp_path / f"{name}.tif", tmp_path, name)
    whole = []
    real = gather_module._whole_scene
    monkeypatch.setattr(
        gather_module, "_whole_scene", lambda *a: whole.append(real(*a)) or whole[-1]
    )
    index = gather(tmp_path, ["a", "b"])
    assert whole == [None] and index["scene"].tolist() == ["a", "a", "a", "b"]
