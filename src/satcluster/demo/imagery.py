"""Render the demo city's RGB scenes, strip by strip (memory bounded by one strip).

Every pixel's colour is a function of its position in the city, so overlapping
scenes show the same ground (each scene with its own slight radiometric gain). Scenes are
in the city's CRS (``frame.crs``, EPSG:32630 by default).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.transform import from_origin
from rasterio.windows import Window
from tqdm import tqdm

from satcluster.demo.layout import CityFrame, CityLayout, road_polygons

__all__ = ["SceneSpec", "corner_nodata", "scene_specs", "write_scenes"]

STRIP_ROWS = 256
# One rasterize at a time: concurrent calls (painting threads) made rasterio's in-memory
# datasets warn that they had no geotransform; about a quarter of the painting time.
RASTERIZE_LOCK = threading.Lock()
BLOCK = 256
ALIGN_PX = 64  # scene edges on a 64 px grid (the demo tile size divides it)
NOISE_PERIOD = 512  # lattice cells of the periodic value noise
# Sun from the east-north-east in the morning: shadows fall west-south-west (metres).
SHADOW_OFFSET_M = (-1.6, -0.8)

# Per district phenotype (index 0..7; index 8 = outside any district):
# ground colour, canopy colour, canopy threshold on the vegetation noise (higher = fewer
# trees), and amplitudes of coarse / fine / per-pixel brightness noise.
GROUND = np.array(
    [
        [150, 128, 108],  # 0 dense: compacted earth between houses
        [150, 128, 108],  # 1
        [168, 142, 104],  # 2 sparse: ochre soil with grass patches
        [128, 152, 84],  # 3 light vegetation: grass
        [104, 132, 72],  # 4 garden grass between houses
        [188, 152, 106],  # 5 empty land: bare laterite
        [38, 78, 104],  # 6 water
        [34, 62, 34],  # 7 dark dense vegetation
        [128, 128, 128],  # outside
    ],
    dtype=np.float32,
)
CANOPY = np.array(
    [
        [110, 120, 80],
        [110, 120, 80],
        [118, 136, 78],
        [92, 122, 62],
        [46, 78, 42],
        [150, 130, 96],
        [44, 88, 112],
        [52, 88, 44],
        [128, 128, 128],
    ],
    dtype=np.float32,
)
CANOPY_THRESHOLD = np.array([0.9, 0.9, 0.66, 0.62, 0.5, 0.72, 2.0, 0.42, 2.0], dtype=np.float32)
NOISE_AMPLITUDE = np.array(
    [
        [0.20, 0.10, 0.10],
        [0.20, 0.10, 0.10],
        [0.30, 0.12, 0.10],
        [0.30, 0.20, 0.10],
        [0.25, 0.25, 0.10],
        [0.35, 0.12, 0.12],
        [0.15, 0.08, 0.03],
        [0.20, 0.45, 0.08],
        [0.0, 0.0, 0.0],
    ],
    dtype=np.float32,
)
ROAD_CLASSES = ["service", "residential", "tertiary", "secondary", "primary", "rail"]
ROAD_COLOUR = np.array(
    [
        [0, 0, 0],
        [140, 128, 112],  # service: laterite track
        [122, 116, 108],  # residential
        [104, 104, 104],  # tertiary
        [88, 88, 90],  # secondary
        [72, 72, 76],  # primary
        [84, 74, 66],  # rail ballast
    ],
    dtype=np.float32,
)
ROOF_PALETTE = np.array(
    [
        [158, 88, 60],  # rusty iron sheet
        [178, 180, 184],  # grey metal
        [206, 206, 200],  # white
        [122, 62, 52],  # red tiles
        [92, 112, 140],  # blue sheet
        [150, 148, 138],  # concrete
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class SceneSpec:
    """One scene: its window in the city grid and its nodata convention."""

    name: str
    window: Window
    nodata_corner: str | None  # "nw", "ne" or None
    convention: str  # "nodata0" (nodata value 0) or "mask" (internal GDAL mask band)
    gain: float


def scene_specs(frame: CityFrame, n_scenes: int) -> list[SceneSpec]:
    """Vertical, overlapping strips of the city; the outer corners have nodata.

    With two scenes, scene_0 covers the west 60% and scene_1 the east 60%; the
    north-west corner of scene_0 (nodata value 0) and the north-east corner of the
    last scene (internal mask) are covered by no scene.
    """
    width = frame.width_px
    overlap = 0.2 / n_scenes
    specs = []
    for i in range(n_scenes):
        c0 = max(0.0, (i / n_scenes - overlap) * width)
        c1 = min(float(width), ((i + 1) / n_scenes + overlap) * width)
        c0 = int(math.floor(c0 / ALIGN_PX) * ALIGN_PX)
        c1 = min(width, int(math.ceil(c1 / ALIGN_PX) * ALIGN_PX))
        corner = "nw" if i == 0 else "ne" if i == n_scenes - 1 else None
        specs.append(
            SceneSpec(
                name=f"scene_{i}",
                window=Window(c0, 0, c1 - c0, width),
                nodata_corner=corner,
                convention="nodata0" if i % 2 == 0 else "mask",
                gain=1.0 - 0.03 * i,
            )
        )
    return specs


def corner_nodata(frame: CityFrame, rows: np.ndarray, cols: np.ndarray, corner: str | None):
    """True where a city pixel lies in the uncovered corner triangle (legs 25% of the side)."""
    if corner is None:
        return np.zeros((len(rows), len(cols)), bool)
    leg = 0.25 * frame.width_px
    c = cols[None, :] if corner == "nw" else frame.width_px - 1 - cols[None, :]
    return (rows[:, None] + c) < leg


class _Painter:
    """Geometry prepared once per city, painted into any window of the city grid."""

    def __init__(self, layout: CityLayout, seed: int) -> None:
        self.frame = layout.frame
        rng = np.random.default_rng([seed, 101])
        self.lattices = [rng.random((NOISE_PERIOD, NOISE_PERIOD), dtype=np.float32) for _ in "abc"]
        self.white = rng.random((NOISE_PERIOD, NOISE_PERIOD), dtype=np.float32)
        self.districts = layout.districts.geometry.to_numpy()
        self.district_value = layout.districts.phenotype.to_numpy() + 1
        polygons, _ = road_polygons(layout.roads)
        kind = layout.roads.highway.fillna("rail").to_numpy()
        order = np.argsort([ROAD_CLASSES.index(k) for k in kind], kind="stable")
        self.roads = polygons[order]
        self.road_value = np.array([ROAD_CLASSES.index(k) + 1 for k in kind[order]])
        self.buildings = layout.buildings.geometry.to_numpy()
        self.shadows = shapely.transform(self.buildings, lambda xy: xy + np.array(SHADOW_OFFSET_M))
        roof_rng = np.random.default_rng([seed, 202])
        roof = ROOF_PALETTE[layout.buildings.roof.to_numpy() % len(ROOF_PALETTE)]
        roof = roof * roof_rng.uniform(0.85, 1.1, (len(roof), 1)).astype(np.float32)
        self.roof_colour = np.vstack([np.zeros((1, 3), np.float32), roof])
        self.trees = {
            name: shapely.STRtree(geoms)
            for name, geoms in {
                "districts": self.districts,
                "roads": self.roads,
                "buildings": self.buildings,
                "shadows": self.shadows,
            }.items()
        }

    def _burn(self, name, geoms, values, window, out_shape, dtype) -> np.ndarray:
        transform, box = self._window_geo(window)
        idx = np.sort(self.trees[name].query(box))
        if len(idx) == 0:
            return np.zeros(out_shape, dtype)
        shapes = zip(geoms[idx], values[idx], strict=True)
        with RASTERIZE_LOCK:
            return rasterize(shapes, out_shape=out_shape, transform=transform, fill=0, dtype=dtype)

    def _window_geo(self, window: Window):
        res = self.frame.resolution_m
        west = self.frame.west + window.col_off * res
        north = self.frame.north - window.row_off * res
        transform = from_origin(west, north, res, res)
        box = shapely.box(west, north - window.height * res, west + window.width * res, north)
        return transform, box

    def _noise(self, lattice: np.ndarray, rows: np.ndarray, cols: np.ndarray, cell_m: float):
        """Smooth periodic value noise in [0, 1), `cell_m` metres per lattice cell."""
        res = self.frame.resolution_m
        gy = (rows + 0.5) * res / cell_m
        gx = (cols + 0.5) * res / cell_m
        y0 = np.floor(gy).astype(np.int64)
        x0 = np.floor(gx).astype(np.int64)
        fy = (gy - y0).astype(np.float32)
        fx = (gx - x0).astype(np.float32)
        fy = (fy * fy * (3 - 2 * fy))[:, None]
        fx = (fx * fx * (3 - 2 * fx))[None, :]
        y0, y1 = y0 % NOISE_PERIOD, (y0 + 1) % NOISE_PERIOD
        x0, x1 = x0 % NOISE_PERIOD, (x0 + 1) % NOISE_PERIOD
        top = lattice[np.ix_(y0, x0)] * (1 - fx) + lattice[np.ix_(y0, x1)] * fx
        bottom = lattice[np.ix_(y1, x0)] * (1 - fx) + lattice[np.ix_(y1, x1)] * fx
        return top * (1 - fy) + bottom * fy

    def paint(self, window: Window) -> np.ndarray:
        """RGB float32 (h, w, 3) of a window of the city grid."""
        shape = (int(window.height), int(window.width))
        rows = np.arange(window.row_off, window.row_off + shape[0])
        cols = np.arange(window.col_off, window.col_off + shape[1])
        phen = self._burn(
            "districts", self.districts, self.district_value, window, shape, np.uint8
        ).astype(np.int64)
        phen = np.where(phen == 0, 9, phen) - 1  # 8 = outside any district
        coarse = self._noise(self.lattices[0], rows, cols, 24.0)
        mid = self._noise(self.lattices[1], rows, cols, 5.0)
        fine = self._noise(self.lattices[2], rows, cols, 1.5)
        white = self.white[np.ix_(rows % NOISE_PERIOD, cols % NOISE_PERIOD)]
        canopy = (0.55 * mid + 0.45 * fine) > CANOPY_THRESHOLD[phen]
        colour = np.where(canopy[..., None], CANOPY[phen], GROUND[phen])
        amp = NOISE_AMPLITUDE[phen]
        shade = (
            1.0
            + amp[..., 0] * (coarse - 0.5)
            + amp[..., 1] * (fine - 0.5)
            + amp[..., 2] * (white - 0.5)
        )
        colour *= shade[..., None]
        roads = self._burn("roads", self.roads, self.road_value, window, shape, np.uint8)
        on_road = roads > 0
        colour[on_road] = ROAD_COLOUR[roads[on_road]] * (0.95 + 0.1 * white[on_road, None])
        ids = np.arange(1, len(self.buildings) + 1, dtype=np.int32)
        shadow = self._burn("shadows", self.shadows, ids, window, shape, np.int32) > 0
        colour[shadow] *= 0.5
        roof = self._burn("buildings", self.buildings, ids, window, shape, np.int32)
        on_roof = roof > 0
        colour[on_roof] = self.roof_colour[roof[on_roof]] * (0.96 + 0.08 * white[on_roof, None])
        return colour


def write_scenes(
    layout: CityLayout, out_dir: Path, n_scenes: int, seed: int, threads: int = 1
) -> list[Path]:
    """Write scene_{i}.tif for every scene; return their paths.

    Strips are painted on ``threads`` threads (numpy, GDAL's rasterize and shapely's
    queries release the GIL) and written in order: the same bytes for any ``threads``.
    """
    painter = _Painter(layout, seed)
    paths = []
    for spec in scene_specs(layout.frame, n_scenes):
        path = out_dir / f"{spec.name}.tif"
        _write_scene(painter, spec, path, threads)
        paths.append(path)
    return paths


def _painted_strips(
    painter: _Painter, spec: SceneSpec, threads: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first row, uint8 pixels, nodata mask) of each strip of a scene, in order."""
    frame = painter.frame
    cols = np.arange(spec.window.col_off, spec.window.col_off + spec.window.width)
    height = int(spec.window.height)

    def strip(r0: int) -> tuple[int, np.ndarray, np.ndarray]:
        h = min(STRIP_ROWS, height - r0)
        rgb = painter.paint(Window(spec.window.col_off, r0, spec.window.width, h)) * spec.gain
        pixels = np.clip(np.rint(rgb), 1, 255).astype(np.uint8)
        missing = corner_nodata(frame, np.arange(r0, r0 + h), cols, spec.nodata_corner)
        pixels[missing] = 0
        return r0, pixels, missing

    starts = range(0, height, STRIP_ROWS)
    if threads <= 1:
        yield from map(strip, starts)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for r0 in starts:  # at most 2 strips per thread in memory
            pending.append(pool.submit(strip, r0))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _write_scene(painter: _Painter, spec: SceneSpec, path: Path, threads: int = 1) -> None:
    frame = painter.frame
    res = frame.resolution_m
    profile = {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 3,
        "width": int(spec.window.width),
        "height": int(spec.window.height),
        "crs": frame.crs,
        "transform": from_origin(frame.west + spec.window.col_off * res, frame.north, res, res),
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "compress": "deflate",
        "photometric": "RGB",
        "interleave": "pixel",
    }
    if spec.convention == "nodata0":
        profile["nodata"] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    height = int(spec.window.height)
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(path, "w", **profile) as dst,
    ):
        strips = _painted_strips(painter, spec, threads)
        total = -(-height // STRIP_ROWS)
        for r0, pixels, missing in tqdm(strips, desc=spec.name, unit="strip", total=total):
            out_window = Window(0, r0, spec.window.width, len(pixels))
            dst.write(np.moveaxis(pixels, -1, 0), window=out_window)
            if spec.convention == "mask":
                dst.write_mask(np.where(missing, 0, 255).astype(np.uint8), window=out_window)
