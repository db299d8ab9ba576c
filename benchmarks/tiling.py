"""Tiling throughput vs a plain windowed read of the same rasters, measured in the same run.

Writes overlapping synthetic scenes shaped like the demo city's imagery (RGB uint8,
EPSG:32630, 0.5 m, 256 px deflate-compressed tiles, one scene with nodata 0 and one with
an internal mask) into a temporary directory, then times, best of ``--repeats`` (the
repeats take turns, so that a change in the machine's load hits every measurement):

- plain read: every pixel of every band read with rasterio windowed reads, in the same
  row bands (``window_rows`` tile rows, full width) that the tiler reads, nothing else
  (GDAL's defaults: one decoding thread);
- tiling: ``tile_scene`` for every scene plus ``gather_tiles`` (the whole tiles stage);
- one write of the tiles' bytes: ``np.save`` of an array as big as ``tiles.npy``, already
  in memory. Plain read + this write is the floor of any tiler that reads the rasters
  and writes its tiles once.

Both are reported in MB/s of source pixels (width x height x bands x bytes, all scenes);
the ratio tiling / plain read is the figure of merit (aim: >= 0.7), and tiling / (plain
read + one write) says how far the tiler is from that floor.

Then the tiles stage runs once more per repeat with its read-ahead thread off (each
window is read, then cut and written), timing the library's own steps: the tiler's read
(pixels and masks; GDAL decodes on ``DECODE_THREADS`` threads, so the plain read on as
many threads is shown too), cutting tiles, writing the per-scene tiles, the gather's copy
into ``tiles.npy``, the tile tables (building them, Parquet writes and reads, choosing
one tile per cell) and the rest. CPU seconds count every thread; the items add up to that
pass. The real stage overlaps the read with the rest in a thread, which a loaded 2-core
machine shows only in part.

    .venv/bin/python benchmarks/tiling.py [--scene-px 8192] [--size-px 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from satcluster.tiling import gather as gather_module
from satcluster.tiling import gather_tiles, tile_scene
from satcluster.tiling import reader as reader_module
from satcluster.tiling import scene as scene_module
from satcluster.tiling.scene import DECODE_THREADS

CRS = "EPSG:32630"
RES = 0.5
WEST, NORTH = 806_000.0, 620_000.0  # near Accra, on the tile grid


def write_scene(
    path: Path, col_off: int, width: int, height: int, mask: bool, seed: int, bands: int = 3
) -> None:
    """A smooth-plus-noise RGB (or one-band) scene (compresses like imagery), nodata in a corner."""
    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": bands,
        "width": width,
        "height": height,
        "crs": CRS,
        "transform": from_origin(WEST + col_off * RES, NORTH, RES, RES),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "photometric": "RGB" if bands == 3 else "MINISBLACK",
        **({} if mask else {"nodata": 0}),
    }
    coarse = rng.integers(40, 200, (bands, height // 64 + 2, width // 64 + 2)).astype(np.uint8)
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


def plain_read(paths: list[Path], band_rows: int, threads: int = 1) -> None:
    """Read all pixels of all bands in full-width row bands (GDAL decoding on ``threads``)."""
    for path in paths:
        with rasterio.Env(GDAL_NUM_THREADS=str(threads)):
            src = rasterio.open(path)
        with src:
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


def once(run: Callable[[], object], before: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system, all threads) seconds of one ``run``."""
    before()
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


# The itemised steps, and the library functions whose time each one is.
READ, CUT, WRITE, GATHER, TABLES = (
    f"tiler's read: pixels + masks ({DECODE_THREADS} threads)",
    "cutting tiles",
    "writing the per-scene tiles",
    "gather: copy into tiles.npy",
    "tile tables: build, Parquet, choose",
)
STEPS = {
    READ: [(reader_module.SceneReader, "read")],
    CUT: [(scene_module, "_kept_cells"), (scene_module, "_cut_tiles")],
    WRITE: [(scene_module, "_write_tiles")],
    GATHER: [(gather_module, "_copy_tiles")],
    TABLES: [
        (scene_module, "_scene_table"),
        (gpd.GeoDataFrame, "to_parquet"),
        (gather_module, "_read_scenes"),
        (gather_module, "_choose_tiles"),
        (gather_module, "_index_table"),
    ],
}
GENERATORS = {(scene_module, "_cut_tiles")}  # timed step by step, as they are consumed
# Parts of a step, shown under it and not added to the total again.
COPY = "  of which: one band copied into 3 channels"
PARTS = {COPY: [(reader_module.SceneReader, "_copy_channels")]}


def _add(totals: dict, item: str, wall: float, cpu: float) -> None:
    """Add the seconds since ``wall`` and ``cpu`` to ``totals[item]``."""
    seen = totals.get(item, (0.0, 0.0))
    totals[item] = (
        seen[0] + time.perf_counter() - wall,
        seen[1] + time.process_time() - cpu,
    )


def timed(fn: Callable, item: str, totals: dict) -> Callable:
    """``fn``, adding the wall and CPU seconds of every call to ``totals[item]``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(totals, item, wall, cpu)

    return wrapper


def timed_generator(fn: Callable, item: str, totals: dict) -> Callable:
    """Generator function ``fn``, adding the seconds of producing each item to ``totals[item]``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> Iterator:
        steps = fn(*args, **kwargs)
        while True:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                value = next(steps)
            except StopIteration:
                _add(totals, item, wall, cpu)
                return
            _add(totals, item, wall, cpu)
            yield value

    return wrapper


def in_order(read: Callable[[range], tuple], windows: list[range]) -> Iterator[tuple]:
    """The tiler's read-ahead without its thread: read a window, then hand it on."""
    return ((window, read(window)) for window in windows)


def itemised_tiling(paths: list[Path], out: Path, size_px: int, window_rows: int) -> dict:
    """Wall and CPU seconds of each step of one tiles stage run without read-ahead."""
    totals: dict[str, tuple[float, float]] = {}
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(scene_module, "_read_ahead", in_order))
        for item, targets in {**STEPS, **PARTS}.items():
            for owner, name in targets:
                wrap = timed_generator if (owner, name) in GENERATORS else timed
                patched = wrap(getattr(owner, name), item, totals)
                stack.enter_context(mock.patch.object(owner, name, patched))
        wall, cpu = time.perf_counter(), time.process_time()
        full_tiling(paths, out, size_px, window_rows)
        _add(totals, "total", wall, cpu)
    return totals


def with_other(totals: dict) -> dict:
    """``totals`` plus "other": the run's time outside the itemised steps."""
    steps = sum(np.array(totals[item]) for item in STEPS)
    return {**totals, "other": tuple(np.array(totals["total"]) - steps)}


def best(runs: list) -> tuple | dict:
    """Best wall and best CPU seconds over runs of (wall, cpu), or per key of dicts of them."""
    if isinstance(runs[0], dict):
        return {key: best([run[key] for run in runs]) for key in runs[0]}
    return tuple(np.min(runs, axis=0).tolist())


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
    parser.add_argument(
        "--bands", type=int, choices=(1, 3), default=3, help="1: single-band (pan) scenes"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="satcluster-bench-") as tmp:
        tmp = Path(tmp)
        height = args.scene_px
        width = (height * 6 // 10) // 256 * 256  # two strips of 60% width, 20% overlap
        paths = [tmp / "scene_0.tif", tmp / "scene_1.tif"]
        start = time.perf_counter()
        write_scene(paths[0], 0, width, height, mask=False, seed=0, bands=args.bands)
        write_scene(paths[1], height - width, width, height, mask=True, seed=1, bands=args.bands)
        print(
            f"wrote 2 scenes of {width} x {height} px, {args.bands} band(s), in "
            f"{time.perf_counter() - start:.1f} s"
        )
        source_mb = sum(width * height * args.bands for _ in paths) / 1e6
        out = tmp / "tiles"
        out.mkdir()
        times = measure(paths, out, tmp / "floor.npy", args)

    read, tiling, write = times["read"], times["tiling"], times["write"]
    print(f"source pixels: {source_mb:.0f} MB in 2 overlapping scenes (deflate, 256 px blocks)")
    print(f"tiles: {times['n_tiles']} of {args.size_px} px, window_rows={args.window_rows}")
    print(f"best of {args.repeats}:          wall s   MB/s   cpu s   MB/s")
    for name, (wall, cpu) in (("plain windowed read", read), ("tiling (scenes+gather)", tiling)):
        print(f"{name:22s} {wall:8.2f} {source_mb / wall:6.0f} {cpu:7.2f} {source_mb / cpu:6.0f}")
    print(
        f"ratio tiling / plain read: {read[0] / tiling[0]:.2f} wall, {read[1] / tiling[1]:.2f} cpu "
        "(aim >= 0.7)"
    )
    floor = np.add(read, write)
    print(
        f"ratio tiling / (plain read + one write of the tiles): {floor[0] / tiling[0]:.2f} "
        f"wall, {floor[1] / tiling[1]:.2f} cpu"
    )
    print_items(args.repeats, times)


def measure(paths: list[Path], out: Path, floor: Path, args: argparse.Namespace) -> dict:
    """Best wall and CPU seconds of each measurement; the repeats take turns."""
    band_rows = args.window_rows * args.size_px
    plain_read(paths, band_rows)  # warm the page cache for both measurements
    full_tiling(paths, out, args.size_px, args.window_rows)
    tiles = np.load(out / "tiles.npy")  # in memory, for the one write
    sizes = {"tiles_mb": tiles.nbytes / 1e6, "n_tiles": len(tiles)}
    sizes["scene_mb"] = sum((out / f"{p.stem}.npy").stat().st_size for p in paths) / 1e6
    runs: dict[str, list] = {key: [] for key in ("read", "threaded", "tiling", "write", "steps")}
    for _ in range(args.repeats):
        runs["read"].append(once(lambda: plain_read(paths, band_rows), lambda: None))
        runs["threaded"].append(
            once(lambda: plain_read(paths, band_rows, DECODE_THREADS), lambda: None)
        )
        runs["tiling"].append(
            once(
                lambda: full_tiling(paths, out, args.size_px, args.window_rows),
                lambda: remove_outputs(out),
            )
        )
        runs["write"].append(
            once(lambda: np.save(floor, tiles), lambda: floor.unlink(missing_ok=True))
        )
        remove_outputs(out)
        steps = itemised_tiling(paths, out, args.size_px, args.window_rows)
        runs["steps"].append(with_other(steps))
    return {**{key: best(values) for key, values in runs.items()}, **sizes}


def print_items(repeats: int, times: dict) -> None:
    """The itemised table: the floor, each step of the tiles stage, and what is left."""
    read, write, steps = times["read"], times["write"], times["steps"]
    tiles_mb, scene_mb = times["tiles_mb"], times["scene_mb"]
    rows = [
        ("plain windowed read (baseline)", read),
        (f"one write of the tiles ({tiles_mb:.0f} MB, np.save)", write),
        ("= floor: plain read + one write", tuple(np.add(read, write))),
        (f"  (plain read, GDAL on {DECODE_THREADS} threads)", times["threaded"]),
        (READ, steps[READ]),
        *[(COPY, steps[COPY])] * (COPY in steps),
        (CUT, steps[CUT]),
        (f"{WRITE} ({scene_mb:.0f} MB)", steps[WRITE]),
        (f"{GATHER} ({tiles_mb:.0f} MB)", steps[GATHER]),
        (TABLES, steps[TABLES]),
        ("other: opening, headers, progress", steps["other"]),
        ("= tiles stage, read-ahead off", steps["total"]),
        ("  tiles stage, read-ahead on (above)", times["tiling"]),
    ]
    print(f"itemised, best of {repeats} (each item on its own):   wall s   cpu s")
    for name, (wall, cpu) in rows:
        print(f"  {name:42s} {wall:7.2f} {cpu:7.2f}")
    extra = np.subtract(steps["total"], np.add(read, write))
    print(f"  {'left over the floor (read-ahead off)':42s} {extra[0]:7.2f} {extra[1]:7.2f}")


if __name__ == "__main__":
    main()
