"""Tiling throughput vs a plain windowed read of the same rasters, measured in the same run.

Writes overlapping synthetic scenes shaped like the demo city's imagery (RGB uint8,
EPSG:32630, 0.5 m, 256 px deflate-compressed tiles, one scene with nodata 0 and one with
an internal mask) into a temporary directory, then times, best of ``--repeats``:

- plain read: every pixel of every band read with rasterio windowed reads, in the same
  row bands (``window_rows`` tile rows, full width) that the tiler reads, nothing else;
- tiling: ``tile_scene`` for every scene plus ``gather_tiles`` (the whole tiles stage).

Both are reported in MB/s of source pixels (width x height x bands x bytes, all scenes);
the ratio tiling / plain read is the figure of merit (aim: >= 0.7).

    .venv/bin/python benchmarks/tiling.py [--scene-px 8192] [--size-px 64]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from satcluster.tiling import gather_tiles, tile_scene

CRS = "EPSG:32630"
RES = 0.5
WEST, NORTH = 806_000.0, 620_000.0  # near Accra, on the tile grid


def write_scene(path: Path, col_off: int, width: int, height: int, mask: bool, seed: int) -> None:
    """A smooth-plus-noise RGB scene (compresses like imagery), nodata in one corner."""
    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 3,
        "width": width,
        "height": height,
        "crs": CRS,
        "transform": from_origin(WEST + col_off * RES, NORTH, RES, RES),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "photometric": "RGB",
        **({} if mask else {"nodata": 0}),
    }
    coarse = rng.integers(40, 200, (3, height // 64 + 2, width // 64 + 2)).astype(np.uint8)
    strip = 1024
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, height, strip):
            h = min(strip, height - r0)
            rows = np.arange(r0, r0 + h) // 64
            base = coarse[:, rows][:, :, np.arange(width) // 64]
            pixels = base + rng.integers(0, 24, base.shape, dtype=np.uint8)
            missing = np.zeros((h, width), bool)
            corner_rows = max(0, min(h, height // 8 - r0))
            missing[:corner_rows, : width // 8] = True
            pixels[:, missing] = 0
            dst.write(pixels, window=Window(0, r0, width, h))
            if mask:
                dst.write_mask(
                    np.where(missing, 0, 255).astype(np.uint8), window=Window(0, r0, width, h)
                )


def plain_read(paths: list[Path], band_rows: int) -> None:
    """Read all pixels of all bands in full-width row bands."""
    for path in paths:
        with rasterio.open(path) as src:
            for r0 in range(0, src.height, band_rows):
                src.read(window=Window(0, r0, src.width, min(band_rows, src.height - r0)))


def full_tiling(paths: list[Path], out: Path, size_px: int, window_rows: int) -> int:
    """The tiles stage: one tile_scene per scene, then the gather; returns the tile count."""
    names = [p.stem for p in paths]
    for name, path in zip(names, paths, strict=True):
        tile_scene(
            path,
            name,
            out / f"{name}.npy",
            out / f"{name}.parquet",
            crs=CRS,
            size_px=size_px,
            max_nodata_fraction=0.1,
            window_rows=window_rows,
        )
    index = gather_tiles(
        names,
        [out / f"{n}.npy" for n in names],
        [out / f"{n}.parquet" for n in names],
        out / "tiles.npy",
        out / "index.parquet",
    )
    return len(index)


def best_of(repeats: int, run: Callable[[], object], before: Callable[[], object]) -> tuple:
    """Best wall-clock and best CPU (user + system) seconds of ``run`` over ``repeats``."""
    walls, cpus = [], []
    for _ in range(repeats):
        before()
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def remove_outputs(out: Path) -> None:
    """Snakemake deletes a job's old outputs before running it; do that outside the timing."""
    for path in out.iterdir():
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene-px", type=int, default=8192, help="scene height (px)")
    parser.add_argument("--size-px", type=int, default=64, help="tile side (px)")
    parser.add_argument("--window-rows", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="satcluster-bench-") as tmp:
        tmp = Path(tmp)
        height = args.scene_px
        width = (height * 6 // 10) // 256 * 256  # two strips of 60% width, 20% overlap
        paths = [tmp / "scene_0.tif", tmp / "scene_1.tif"]
        start = time.perf_counter()
        write_scene(paths[0], 0, width, height, mask=False, seed=0)
        write_scene(paths[1], height - width, width, height, mask=True, seed=1)
        print(f"wrote 2 scenes of {width} x {height} px in {time.perf_counter() - start:.1f} s")
        source_mb = sum(rasterio.open(p).width * rasterio.open(p).height * 3 for p in paths) / 1e6
        out = tmp / "tiles"
        out.mkdir()
        band_rows = args.window_rows * args.size_px
        plain_read(paths, band_rows)  # warm the page cache for both measurements
        read = best_of(args.repeats, lambda: plain_read(paths, band_rows), lambda: None)
        tiling = best_of(
            args.repeats,
            lambda: full_tiling(paths, out, args.size_px, args.window_rows),
            lambda: remove_outputs(out),
        )
        n_tiles = len(np.load(out / "tiles.npy", mmap_mode="r"))

    print(f"source pixels: {source_mb:.0f} MB in 2 overlapping scenes (deflate, 256 px blocks)")
    print(f"tiles: {n_tiles} of {args.size_px} px, window_rows={args.window_rows}")
    print(f"best of {args.repeats}:          wall s   MB/s   cpu s   MB/s")
    for name, (wall, cpu) in (("plain windowed read", read), ("tiling (scenes+gather)", tiling)):
        print(f"{name:22s} {wall:8.2f} {source_mb / wall:6.0f} {cpu:7.2f} {source_mb / cpu:6.0f}")
    print(
        f"ratio tiling / plain read: {read[0] / tiling[0]:.2f} wall, {read[1] / tiling[1]:.2f} cpu "
        "(aim >= 0.7)"
    )


if __name__ == "__main__":
    main()
