"""Benchmark: exact zonal statistics (exactextract path) vs rasterstats on >= 10^4 tiles.

Two rasters like the covariate sources, both synthetic and written to a temporary
directory, under a grid of square UTM tiles offset from the pixel grid:

- ``landsat``: float32, 30 m, EPSG:32630, a smooth field plus noise; 32 m tiles.
- ``worldpop``: float32 people per pixel, 3 arc-seconds, EPSG:4326, nodata -99999
  over a "sea" strip; 64 m tiles reprojected to the raster's CRS.

For each, the per-tile mean (landsat) or people sum (worldpop) is computed by our
path (``satcluster.covariates.zonal.zonal_sums``, which reads the file and
reprojects the tiles itself) and by ``rasterstats.zonal_stats`` from the file and
from an in-memory array (given tiles already in the raster's CRS), in the same
run. Errors are against a brute-force reference that intersects every pixel
polygon with the tile in shapely, on a random subsample of tiles.

    .venv/bin/python benchmarks/covariates.py [--tiles-per-side 100] [--sample 400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin
from rasterstats import zonal_stats

from satcluster.covariates.zonal import open_raster, zonal_sums

# The brute-force reference lives with the tests (one copy, checked by them): the repository
# root on the import path, as pytest puts it (pyproject.toml).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.harness.zonal_reference import area_weighted_reference  # noqa: E402

UTM = "EPSG:32630"
NODATA = -99999.0
# Around Accra in UTM zone 30N; tile grids start off the pixel grids on purpose.
ORIGIN_X, ORIGIN_Y = 805_007.3, 611_011.9


@dataclass
class Case:
    name: str
    path: Path
    tile_m: float
    stat: str  # "mean" or "sum"


def tile_grid(per_side: int, tile_m: float) -> gpd.GeoSeries:
    """per_side^2 square tiles of tile_m metres in UTM, indexed 0..n-1."""
    x, y = np.meshgrid(np.arange(per_side) * tile_m, np.arange(per_side) * tile_m)
    x0, y0 = ORIGIN_X + x.ravel(), ORIGIN_Y + y.ravel()
    return gpd.GeoSeries(shapely.box(x0, y0, x0 + tile_m, y0 + tile_m), crs=UTM)


def write_raster(path: Path, values: np.ndarray, transform, crs: str) -> Path:
    profile = dict(driver="GTiff", width=values.shape[1], height=values.shape[0], count=1)
    profile.update(dtype="float32", crs=crs, transform=transform, nodata=NODATA, tiled=True)
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(values.astype("float32"), 1)
    return path


def landsat_like(out: Path, extent_m: float, rng: np.random.Generator) -> Path:
    n = int(extent_m / 30) + 8
    y, x = np.mgrid[0:n, 0:n] / n
    field = 0.3 + 0.3 * np.sin(6 * x) * np.cos(4 * y) + rng.normal(0, 0.1, (n, n))
    transform = from_origin(ORIGIN_X - 100, ORIGIN_Y + extent_m + 100, 30, 30)
    return write_raster(out / "landsat_like.tif", field, transform, UTM)


def worldpop_like(out: Path, extent_m: float, rng: np.random.Generator) -> Path:
    corners = gpd.GeoSeries(
        [shapely.box(ORIGIN_X, ORIGIN_Y, ORIGIN_X + extent_m, ORIGIN_Y + extent_m)], crs=UTM
    )
    west, south, east, north = corners.to_crs(4326).total_bounds
    res = 3 / 3600
    west, north = np.floor(west / res - 3) * res, np.ceil(north / res + 3) * res
    width = int(np.ceil((east - west) / res)) + 3
    height = int(np.ceil((north - south) / res)) + 3
    ppp = rng.lognormal(2.0, 1.0, (height, width))
    ppp[-height // 6 :, :] = NODATA  # the southern strip is sea
    transform = from_origin(west, north, res, res)
    return write_raster(out / "worldpop_like.tif", ppp, transform, "EPSG:4326")


def _float(bands: list[np.ma.MaskedArray]) -> np.ndarray:
    return bands[0].astype(np.float32).filled(np.nan)


def ours(case: Case, tiles: gpd.GeoSeries) -> np.ndarray:
    with open_raster(case.path, case.name) as dataset:
        sums = zonal_sums(tiles, [dataset], _float, what=case.name)
    if case.stat == "sum":
        return sums["sum"].fillna(0.0).to_numpy()
    return (sums["sum"] / sums["count"]).to_numpy()


def rasterstats_file(case: Case, geoms: gpd.GeoSeries) -> np.ndarray:
    stats = zonal_stats(list(geoms), str(case.path), stats=[case.stat], nodata=NODATA)
    return _rasterstats_values(stats, case.stat)


def rasterstats_memory(case: Case, geoms: gpd.GeoSeries) -> np.ndarray:
    with rasterio.open(case.path) as dataset:
        array, transform = dataset.read(1), dataset.transform
    stats = zonal_stats(list(geoms), array, affine=transform, stats=[case.stat], nodata=NODATA)
    return _rasterstats_values(stats, case.stat)


def _rasterstats_values(stats: list[dict], stat: str) -> np.ndarray:
    fill = 0.0 if stat == "sum" else np.nan  # a tile with no pixel centre gets None
    return np.array([fill if s[stat] is None else s[stat] for s in stats], dtype=float)


def reference(case: Case, geoms: gpd.GeoSeries, sample: np.ndarray) -> np.ndarray:
    with rasterio.open(case.path) as dataset:
        values = dataset.read(1, masked=True).astype(float).filled(np.nan)
        transform = dataset.transform
    result = []
    for geom in geoms.iloc[sample]:
        total, count = area_weighted_reference(geom, values, transform)
        result.append(total if case.stat == "sum" else total / count)
    return np.array(result)


def timed(function: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def errors(values: np.ndarray, ref: np.ndarray, stat: str) -> str:
    if stat == "sum":
        relative = np.abs(values - ref) / ref
        return f"relative error median {np.median(relative):.2e}, max {relative.max():.2e}"
    absolute = np.abs(values - ref)
    return f"mean abs error {np.nanmean(absolute):.2e}, max {np.nanmax(absolute):.2e}"


def run_case(case: Case, per_side: int, n_sample: int, rng: np.random.Generator) -> None:
    tiles = tile_grid(per_side, case.tile_m)
    with rasterio.open(case.path) as dataset:
        raster_crs, shape = dataset.crs, dataset.shape
    print(f"\n== {case.name}: {len(tiles)} tiles of {case.tile_m:g} m, raster {shape} {raster_crs}")
    # rasterstats gets the tiles already in the raster's CRS (densified like ours).
    geoms = gpd.GeoSeries(shapely.segmentize(tiles.to_numpy(), case.tile_m / 8), crs=UTM)
    geoms = geoms.to_crs(raster_crs)
    ours_values, ours_s = timed(lambda: ours(case, tiles))
    file_values, file_s = timed(lambda: rasterstats_file(case, geoms))
    memory_values, memory_s = timed(lambda: rasterstats_memory(case, geoms))
    # Sample tiles with data: the reference of a tile over the sea is 0 people.
    candidates = np.flatnonzero(ours_values > 0) if case.stat == "sum" else np.arange(len(tiles))
    sample = np.sort(rng.choice(candidates, size=min(n_sample, candidates.size), replace=False))
    ref, ref_s = timed(lambda: reference(case, geoms, sample))
    print(f"  ours (exactextract, from file, incl. reprojection): {ours_s:7.2f} s")
    print(f"  rasterstats from file:                              {file_s:7.2f} s")
    print(f"  rasterstats from in-memory array:                   {memory_s:7.2f} s")
    print(
        f"  speed-up vs rasterstats: {file_s / ours_s:.1f}x (file), {memory_s / ours_s:.1f}x (memory)"
    )
    print(f"  brute-force reference on {sample.size} tiles: {ref_s:.1f} s")
    print(f"  ours:        {errors(ours_values[sample], ref, case.stat)}")
    print(f"  rasterstats: {errors(file_values[sample], ref, case.stat)}")
    if case.stat == "sum":
        empty = np.mean(file_values[candidates] == 0)
        print(f"  rasterstats finds no pixel centre in {empty:.0%} of tiles with people")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiles-per-side", type=int, default=100, help="grid of N x N tiles")
    parser.add_argument("--sample", type=int, default=400, help="tiles for the reference")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)  # affine's `*`
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cases = [
            Case("landsat", landsat_like(out, args.tiles_per_side * 32, rng), 32, "mean"),
            Case("worldpop", worldpop_like(out, args.tiles_per_side * 64, rng), 64, "sum"),
        ]
        for case in cases:
            run_case(case, args.tiles_per_side, args.sample, rng)


if __name__ == "__main__":
    main()
