"""The figure tests' input: a table like results/cluster_shapefile.parquet, 8 x 8 tiles of
32 m near Accra (EPSG:32630) with labels at k = 2, 4, 6 and covariates, and the consensus
confidence that the confidence figure and both maps fade by.

Shared by tests/unit/test_figures.py, tests/unit/test_figures_confidence.py and the
browser tests (tests/workflow/).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from satcluster.columns import CLUSTER_CONFIDENCE
from satcluster.figures.web_map import WebMap, build_web_map

FINAL_K = 4
KS = [2, 4, 6]
SIDE = 8  # tiles per side: 64 tiles
TILE_M = 32.0
NAMES = ["dense buildings", "roads", "water", "vegetation"]
WATER = 2  # the cluster without buildings


def grid_labels() -> dict[int, np.ndarray]:
    """Labels of an 8 x 8 grid for every k: quadrants at k=4, halves at k=2, k=6 splits two."""
    rows, cols = np.divmod(np.arange(SIDE * SIDE), SIDE)
    k4 = (rows >= SIDE // 2) * 2 + (cols >= SIDE // 2)
    k2 = k4 // 2
    k6 = np.where(k4 < 2, k4 * 2 + (rows % 2), k4 + 2)
    return {2: k2, 4: k4, 6: k6}


def make_cluster_table(path, covariates=True) -> gpd.GeoDataFrame:
    """A GeoParquet like results/cluster_shapefile.parquet: 64 tiles of 32 m in EPSG:32630."""
    rng = np.random.default_rng(1)
    n = SIDE * SIDE
    rows, cols = np.divmod(np.arange(n), SIDE)
    labels = grid_labels()
    x0, y0 = 810_000.0, 620_000.0
    geometry = shapely.box(
        x0 + cols * TILE_M, y0 - (rows + 1) * TILE_M, x0 + (cols + 1) * TILE_M, y0 - rows * TILE_M
    )
    cluster = labels[FINAL_K]
    table = gpd.GeoDataFrame(
        {
            "tile_id": np.arange(n, dtype=np.int64)[::-1],  # row order != tile_id order
            "scene": "scene_0",
            "row": rows,
            "col": cols,
            "cluster": cluster,
            "cluster_name": [NAMES[c] for c in cluster],
            **{f"label_k{k}": labels[k] for k in KS},
        },
        geometry=geometry,
        crs="EPSG:32630",
    )
    if covariates:
        has_buildings = cluster != WATER
        count = np.where(has_buildings, rng.integers(1, 30, n), 0)
        table["building_count"] = count
        table["building_area_m2"] = count * rng.uniform(40, 120, n)
        table["mean_building_size_m2"] = np.where(
            count > 0, table["building_area_m2"] / np.maximum(count, 1), np.nan
        )
        table["building_orientation_deg"] = np.where(has_buildings, rng.uniform(0, 45, n), np.nan)
        table["road_length_m"] = rng.uniform(0, 200, n) * (cluster == 1)
        table["dist_road_m"] = rng.uniform(0, 300, n)
        table["ndvi_mean"] = np.where(cluster == WATER, -0.2, 0.1 + 0.2 * cluster) + rng.normal(
            0, 0.02, n
        )
        table["ndvi_valid_fraction"] = 1.0
    table.to_parquet(path)
    return table


# --- consensus confidence ------------------------------------------------------------------
THRESHOLD = 0.75
# Shares of 3 or 4 seeds; 0.75 sits on the threshold and is not low; NaN: no confidence.
LEVELS = np.array([1.0, 0.75, 2 / 3, 0.5, 1 / 3, 1.0, 0.25])


def with_confidence(table: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The table with a cluster_confidence column that differs between clusters."""
    table = table.copy()
    confidence = LEVELS[(np.arange(len(table)) + table["cluster"].to_numpy()) % len(LEVELS)]
    confidence[5] = np.nan
    table[CLUSTER_CONFIDENCE] = confidence
    return table


def confidence_tables(root: Path) -> tuple[Path, Path]:
    """(path without confidence, path with confidence) of two cluster GeoParquets in root."""
    plain = make_cluster_table(root / "plain.parquet")
    with_confidence(plain).to_parquet(root / "confident.parquet")
    return root / "plain.parquet", root / "confident.parquet"


def expected_low(confidence: np.ndarray) -> np.ndarray:
    """Low-confidence tiles, written out independently of the library."""
    return np.array([c < THRESHOLD if c == c else False for c in confidence])


def render_web_map(table: gpd.GeoDataFrame, low_confidence: float = THRESHOLD) -> WebMap:
    """The web map of the table at KS (no tiles, no basemap), fading below low_confidence."""
    return build_web_map(table, [], KS, FINAL_K, "tab10", 32, False, low_confidence)
