"""The web map tests' input: an 8 x 8 table of 32 m tiles near Accra (EPSG:32630) whose
quadrants are the 4 clusters, its tiles.npy, and the map written from them.

Shared by tests/unit/test_webmap.py and the browser tests (tests/workflow/).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from satcluster.figures.web_map import write_web_map

KS = [2, 4]
FINAL_K = 4
SIDE = 8
NAMES = ["dense buildings", "roads", "water", "vegetation"]
X0, Y0 = 810_000.0, 620_000.0  # near Accra, EPSG:32630


def grid_table(side: int, tile_m: float = 32, crs: str = "EPSG:32630", x0=X0, y0=Y0):
    """side x side tiles of tile_m metres, row-major, quadrants = the 4 clusters."""
    rows, cols = np.divmod(np.arange(side * side), side)
    k4 = (rows >= side // 2) * 2 + (cols >= side // 2)
    return gpd.GeoDataFrame(
        {
            "tile_id": np.arange(side * side),
            "scene": "scene_0",
            "row": rows,
            "col": cols,
            "cluster": k4,
            "cluster_name": [NAMES[c] for c in k4],
            "label_k2": k4 // 2,
            "label_k4": k4,
            "building_count": np.where(k4 == 2, 0, 7),
            "building_orientation_deg": np.where(k4 == 2, np.nan, 12.345678),
            "ndvi_mean": 0.25,
        },
        geometry=shapely.box(
            x0 + cols * tile_m,
            y0 - (rows + 1) * tile_m,
            x0 + (cols + 1) * tile_m,
            y0 - rows * tile_m,
        ),
        crs=crs,
    )


def make_table(path: Path) -> gpd.GeoDataFrame:
    """8 x 8 tiles of 32 m near Accra (EPSG:32630), quadrants = the 4 clusters."""
    table = grid_table(SIDE)
    table.to_parquet(path)
    return table


def make_tiles(path: Path, n: int, side: int = 16) -> None:
    tiles = np.zeros((n, side, side, 3), np.uint8)
    tiles[:, :, :, 0] = np.arange(n)[:, None, None] * 3
    tiles[:, : side // 2, :, 1] = 200  # a top half that the thumbnail must keep
    np.save(path, tiles)


def write(root: Path, name: str = "map.html", **kwargs) -> Path:
    """The map of the 8 x 8 table under root (inputs made once), every tile thumbnailed."""
    if not (root / "clusters.parquet").exists():
        root.mkdir(parents=True, exist_ok=True)
        make_table(root / "clusters.parquet")
        make_tiles(root / "tiles.npy", SIDE * SIDE)
    settings = {"thumbnail_px": 32, "max_thumbnails": 1000, "basemap": False, **kwargs}
    write_web_map(
        root / "clusters.parquet", root / "tiles.npy", root / name, KS, FINAL_K, "tab10", **settings
    )
    return root / name
