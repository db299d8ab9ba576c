"""Same scene, same bytes: every read path of the tiler, whatever GDAL's thread count and
whatever the reused buffers held before.

Each case is tiled three times: as the workflow does it (GDAL decodes on ``DECODE_THREADS``
threads, buffers from ``np.empty``), then on 1 and on 2 decoding threads with every reused
buffer (the two window buffers, the mask buffer, the tile-row buffer) filled with a
different pattern before each use. A pixel that no read writes would carry the pattern into
the tiles, so the three ``.npy`` files must be equal byte for byte. Single-band scenes must
also give three equal channels in every tile (issue 23: a band map naming one band three
times left channels unwritten under GDAL's multi-threaded reader).

The files are written in the layouts real products come in: strips of a few rows
(SpaceNet's WorldView-2 pan: strips of 4 rows) and tiles, uncompressed or compressed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin

from satcluster.tiling import gather_tiles, reader, scene, tile_scene
from tests.harness.rasters import write_geotiff

CRS = "EPSG:32630"
RES = 0.5
BANDS = ("red", "green", "blue")
LAYOUTS = {
    "strips of 4 rows": {"blockysize": 4},
    "strips of 6 rows, lzw": {"blockysize": 6, "compress": "lzw"},
    "tiled 16 px": {"tiled": True, "blockxsize": 16, "blockysize": 16},
    "tiled 32 px, deflate": {
        "tiled": True,
        "blockxsize": 32,
        "blockysize": 32,
        "compress": "deflate",
    },
}
# Two fills per buffer: the pixel patterns are non-zero; the masks go from all valid to none.
PATTERNS = {
    "a": {"pixels": 0xA5, "float": 12345.0, "valid": True, "mask": 0xA5, "tiles": 0xA5},
    "b": {"pixels": 0x5A, "float": -777.0, "valid": False, "mask": 0, "tiles": 0x5A},
}


def write(path: Path, data: np.ndarray, layout: str, transform=None, crs=CRS, **profile) -> Path:
    """Write (bands, rows, cols) ``data`` as a GeoTIFF in ``layout`` (a key of LAYOUTS)."""
    transform = transform or from_origin(1001.0, 2003.0, RES, RES)
    return write_geotiff(path, data, transform, crs, **LAYOUTS[layout], **profile)


def pixels(bands: int, rows: int = 100, cols: int = 90, dtype=np.uint8, seed: int = 0):
    """Random pixels without zeros (zero is the nodata value of some cases)."""
    high = {np.uint8: 255, np.uint16: 60000}.get(dtype, 1000)
    data = np.random.default_rng(seed).integers(1, high, (bands, rows, cols))
    return data.astype(dtype)


def holes(rows: int = 100, cols: int = 90) -> np.ndarray:
    """A (rows, cols) bool array, True in a corner blob and a diagonal band (the nodata)."""
    r, c = np.ogrid[:rows, :cols]
    return ((r - 10) ** 2 + (c - 12) ** 2 < 150) | (abs(r - c - 20) < 3)


# Each case: (tmp_path, layout) -> (scene source, tile_scene keyword arguments).
def _rgb(tmp: Path, layout: str):
    return write(tmp / "rgb.tif", pixels(3), layout), {}


def _single_uint8(tmp: Path, layout: str):
    return write(tmp / "pan.tif", pixels(1), layout), {}


def _single_uint16(tmp: Path, layout: str):
    return write(tmp / "pan.tif", pixels(1, dtype=np.uint16), layout), {}


def _single_uint16_900(tmp: Path, layout: str):
    """The size of the SpaceNet 4 pan scene of issue 23, in 512-row windows."""
    data = pixels(1, 900, 900, np.uint16)
    return write(tmp / "pan.tif", data, layout), {"size_px": 64, "window_rows": 8}


def _single_float32_nan(tmp: Path, layout: str):
    data = pixels(1, dtype=np.float32) / 1000
    data[0][holes()] = np.nan
    return write(tmp / "pan.tif", data, layout), {}


def _four_band_uint16(tmp: Path, layout: str):
    return write(tmp / "ms.tif", pixels(4, dtype=np.uint16), layout), {}


def _four_band_float64(tmp: Path, layout: str):
    return write(tmp / "ms.tif", pixels(4, dtype=np.float64) / 1000, layout), {}


def _rgba(tmp: Path, layout: str):
    data = pixels(4)
    data[3] = np.where(holes(), 0, 255)
    interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return write(tmp / "rgba.tif", data, layout, colorinterp=interp), {}


def _nodata(tmp: Path, layout: str):
    data = pixels(3)
    data[:, holes()] = 0
    return write(tmp / "rgb.tif", data, layout, nodata=0), {}


def _single_nodata_uint16(tmp: Path, layout: str):
    data = pixels(1, dtype=np.uint16)
    data[0][holes()] = 0
    return write(tmp / "pan.tif", data, layout, nodata=0), {}


def _masked(tmp: Path, layout: str):
    mask = np.where(holes(), 0, 255).astype(np.uint8)
    return write(tmp / "rgb.tif", pixels(3), layout, mask=mask), {}


def _single_masked(tmp: Path, layout: str):
    mask = np.where(holes(), 0, 255).astype(np.uint8)
    return write(tmp / "pan.tif", pixels(1), layout, mask=mask), {}


def _warped(tmp: Path, layout: str, bands: int = 3):
    """A geographic scene (about 0.5 m pixels near the equator): read through a WarpedVRT."""
    transform = from_origin(-3.0, 0.001, 4.5e-6, 4.5e-6)
    data = pixels(bands, dtype=np.uint16)
    return write(tmp / "geo.tif", data, layout, transform=transform, crs="EPSG:4326"), {
        "resolution_m": 0.5
    }


def _single_warped(tmp: Path, layout: str):
    return _warped(tmp, layout, bands=1)


def _single_resampled(tmp: Path, layout: str):
    """Same CRS, another pixel size: also warped."""
    return write(tmp / "pan.tif", pixels(1), layout), {"resolution_m": 0.75}


def _band_files(tmp: Path, layout: str):
    data = pixels(3, dtype=np.uint16)
    files = {key: write(tmp / f"{key}.tif", data[i : i + 1], layout) for i, key in enumerate(BANDS)}
    return files, {}


CASES: dict[str, Callable] = {
    "direct rgb": _rgb,
    "direct 1-band uint8": _single_uint8,
    "direct 1-band uint16 stretch": _single_uint16,
    "direct 1-band uint16 900 px": _single_uint16_900,
    "direct 1-band float32 stretch, nan": _single_float32_nan,
    "direct 4-band uint16": _four_band_uint16,
    "direct 4-band float64": _four_band_float64,
    "alpha": _rgba,
    "nodata": _nodata,
    "1-band nodata": _single_nodata_uint16,
    "masked": _masked,
    "1-band masked": _single_masked,
    "warped": _warped,
    "1-band warped": _single_warped,
    "1-band resampled": _single_resampled,
    "band files": _band_files,
}
SINGLE_BAND = {name for name in CASES if "1-band" in name}


class Patterned:
    """Fills every reused tiling buffer with one pattern before each use, and counts the fills."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch, self.fills = monkeypatch, 0
        self._buffers = reader.SceneReader._buffers
        self._mask_buffer = reader.SceneReader._mask_buffer
        self._cut_tiles = scene._cut_tiles

    def use(self, name: str | None) -> None:
        """Fill with PATTERNS[name] from now on; None: the code's own buffers, untouched."""
        if name is None:
            self.monkeypatch.setattr(reader.SceneReader, "_buffers", self._buffers)
            self.monkeypatch.setattr(reader.SceneReader, "_mask_buffer", self._mask_buffer)
            self.monkeypatch.setattr(scene, "_cut_tiles", self._cut_tiles)
            return
        fill, original = PATTERNS[name], self

        def buffers(reader_self, height_px):
            pixels, valid = original._buffers(reader_self, height_px)
            pixels.fill(fill["float"] if pixels.dtype.kind == "f" else fill["pixels"])
            valid.fill(fill["valid"])
            original.fills += 1
            return pixels, valid

        def mask_buffer(reader_self, shape):
            mask = original._mask_buffer(reader_self, shape)
            mask.fill(fill["mask"])
            original.fills += 1
            return mask

        def cut_tiles(*args) -> Iterator[np.ndarray]:
            out = args[-1]
            out.fill(fill["tiles"])
            for tiles in original._cut_tiles(*args):
                yield tiles
                out.fill(fill["tiles"])  # before the next row is cut into it
            original.fills += 1

        self.monkeypatch.setattr(reader.SceneReader, "_buffers", buffers)
        self.monkeypatch.setattr(reader.SceneReader, "_mask_buffer", mask_buffer)
        self.monkeypatch.setattr(scene, "_cut_tiles", cut_tiles)


RUNS = [(None, scene.DECODE_THREADS), ("a", 1), ("b", 2)]


def tile_runs(
    source, kwargs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "s"
) -> list[tuple[bytes, np.ndarray]]:
    """The .npy bytes and the kept cells of ``source`` tiled in each of RUNS."""
    patterned, results = Patterned(monkeypatch), []
    for i, (pattern, threads) in enumerate(RUNS):
        patterned.use(pattern)
        monkeypatch.setattr(scene, "DECODE_THREADS", threads)
        npy, index = tmp_path / f"{name}{i}.npy", tmp_path / f"{name}{i}.parquet"
        options = {"crs": CRS, "size_px": 16, "max_nodata_fraction": 0.5, "window_rows": 2}
        table = tile_scene(source, name, npy, index, **{**options, **kwargs})
        results.append((npy.read_bytes(), table[["row", "col", "nodata_fraction"]].to_numpy()))
    patterned.use(None)
    assert patterned.fills > 0, "the pattern never reached a buffer: the test would be vacuous"
    return results


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CASES)
def test_tiling_twice_gives_the_same_bytes_whatever_the_buffers_held(
    case, layout, tmp_path, monkeypatch
):
    source, kwargs = CASES[case](tmp_path, layout)
    runs = tile_runs(source, kwargs, tmp_path, monkeypatch)
    first_bytes, first_cells = runs[0]
    tiles = np.load(tmp_path / "s0.npy")
    assert len(tiles) > 4, "too few tiles kept to exercise several windows"
    for (pattern, threads), (npy_bytes, cells) in zip(RUNS[1:], runs[1:], strict=True):
        assert np.array_equal(cells, first_cells), (pattern, threads)
        assert npy_bytes == first_bytes, f"{case}, {layout}: pattern {pattern}, {threads} thread(s)"
    if case in SINGLE_BAND:
        assert np.array_equal(tiles[..., 0], tiles[..., 1])
        assert np.array_equal(tiles[..., 0], tiles[..., 2])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_several_single_band_scenes_gather_to_the_same_bytes(layout, tmp_path, monkeypatch):
    """Two overlapping single-band scenes, tiled and gathered in each of RUNS."""
    shifted = from_origin(1001.0 + 20 * RES, 2003.0 - 30 * RES, RES, RES)
    scenes = {
        "one": write(tmp_path / "one.tif", pixels(1, dtype=np.uint16, seed=1), layout),
        "two": write(
            tmp_path / "two.tif", pixels(1, dtype=np.uint16, seed=2), layout, transform=shifted
        ),
    }
    per_scene = {
        name: tile_runs(path, {}, tmp_path, monkeypatch, name) for name, path in scenes.items()
    }
    gathered = []
    for i in range(len(RUNS)):
        gather_tiles(
            list(scenes),
            [tmp_path / f"{name}{i}.npy" for name in scenes],
            [tmp_path / f"{name}{i}.parquet" for name in scenes],
            tmp_path / f"tiles{i}.npy",
            tmp_path / f"index{i}.parquet",
        )
        gathered.append((tmp_path / f"tiles{i}.npy").read_bytes())
    assert all(runs[0][0] == run[0] for runs in per_scene.values() for run in runs)
    assert gathered[0] == gathered[1] == gathered[2]
    tiles = np.load(tmp_path / "tiles0.npy")
    assert len(tiles) > len(np.load(tmp_path / "one0.npy"))  # both scenes contribute
    assert np.array_equal(tiles[..., 0], tiles[..., 1])
    assert np.array_equal(tiles[..., 0], tiles[..., 2])


def test_a_single_band_is_read_once_never_as_a_repeated_band_map(tmp_path, monkeypatch):
    """No GDAL read names one band twice: in the stretch's decimated read or in a window."""
    path = write(tmp_path / "pan.tif", pixels(1, dtype=np.uint16), "strips of 4 rows")
    band_maps = []
    read = rasterio.io.DatasetReader.read

    def recording_read(self, indexes=None, *args, **kwargs):
        band_maps.append(indexes)
        return read(self, indexes, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", recording_read)
    tile_scene(path, "s", tmp_path / "s.npy", tmp_path / "s.parquet", crs=CRS, size_px=16)
    lists = [list(m) for m in band_maps if isinstance(m, list | tuple)]
    assert lists and all(len(set(m)) == len(m) for m in lists), band_maps
