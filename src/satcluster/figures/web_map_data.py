"""What the interactive map embeds: the tiles as compact GeoJSON and JPEG thumbnails.

Coordinates are rounded to ``COORDINATE_DECIMALS`` (EPSG:4326) and covariate
values to ``VALUE_DECIMALS``; the thumbnails are a fixed random sample of at
most ``max_thumbnails`` tiles. ``figures.web_map`` puts them in the page.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
from PIL import Image
from tqdm import tqdm

from satcluster.columns import label_column
from satcluster.figures.cluster_confidence import CONFIDENCE_COLUMN
from satcluster.figures.common import tile_polygons

__all__ = [
    "script_variables",
    "thumbnail_data_uri",
    "thumbnail_ids",
    "thumbnails",
    "tile_features",
]

THUMBNAIL_QUALITY = 85
SAMPLE_SEED = 0
COORDINATE_DECIMALS = 6  # ~0.1 m in EPSG:4326
VALUE_DECIMALS = 3
CONFIDENCE_DECIMALS = 3  # 0.667 for 2 of 3 seeds: the popup shows whole percents


def thumbnail_data_uri(tile: np.ndarray, size_px: int) -> str:
    """A tile as a JPEG data URI of ``size_px`` x ``size_px``."""
    image = Image.fromarray(np.asarray(tile, dtype=np.uint8))
    if image.size != (size_px, size_px):
        image = image.resize((size_px, size_px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def thumbnail_ids(tile_ids: np.ndarray, max_thumbnails: int) -> np.ndarray:
    """Tile ids that get a thumbnail: all, or a fixed random sample of ``max_thumbnails``."""
    if len(tile_ids) <= max_thumbnails:
        return np.sort(tile_ids)
    rng = np.random.default_rng(SAMPLE_SEED)
    return np.sort(rng.choice(np.sort(tile_ids), max_thumbnails, replace=False))


def thumbnails(tiles: np.ndarray, ids: np.ndarray, size_px: int) -> dict[int, str]:
    """tile_id -> thumbnail data URI for ``ids`` (read from the memory-mapped tile array)."""
    return {
        int(tile_id): thumbnail_data_uri(tiles[tile_id], size_px)
        for tile_id in tqdm(ids, desc="thumbnails", unit="tile", mininterval=5)
    }


def _rounded(values: np.ndarray, decimals: int) -> list:
    """Values rounded for JSON, NaN as null."""
    values = np.round(np.asarray(values, dtype=float), decimals)
    return [None if np.isnan(v) else (int(v) if v.is_integer() else float(v)) for v in values]


def tile_features(tiles: gpd.GeoDataFrame, ks: Sequence[int], covariates: Sequence[str]) -> dict:
    """GeoJSON FeatureCollection in EPSG:4326 with compact properties.

    Properties: ``t`` tile_id, ``s`` scene, ``r``/``c`` row/col, ``k`` labels in the
    order of ``ks``, ``v`` covariate values in the order of ``covariates`` (null: no value),
    and, only when ``tiles`` has ``cluster_confidence``, ``q`` its value (0..1, null: none).
    """
    geographic = tiles.geometry.to_crs("EPSG:4326") if tiles.crs is not None else tiles.geometry
    polygons = tile_polygons(geographic, decimals=COORDINATE_DECIMALS)
    labels = np.column_stack([tiles[label_column(k)].to_numpy(np.int64) for k in ks]).tolist()
    values = (
        list(zip(*(_rounded(tiles[c], VALUE_DECIMALS) for c in covariates), strict=True))
        if covariates
        else [()] * len(tiles)
    )
    scenes = tiles["scene"].astype(str).tolist() if "scene" in tiles else [""] * len(tiles)
    rows = tiles["row"].tolist() if "row" in tiles else [None] * len(tiles)
    cols = tiles["col"].tolist() if "col" in tiles else [None] * len(tiles)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [polygon.tolist()]},
            "properties": {"t": tid, "s": scene, "r": row, "c": col, "k": k, "v": list(v)},
        }
        for tid, polygon, scene, row, col, k, v in zip(
            tiles["tile_id"].tolist(), polygons, scenes, rows, cols, labels, values, strict=True
        )
    ]
    if CONFIDENCE_COLUMN in tiles:
        confidence = _rounded(tiles[CONFIDENCE_COLUMN], CONFIDENCE_DECIMALS)
        for feature, q in zip(features, confidence, strict=True):
            feature["properties"]["q"] = q
    return {"type": "FeatureCollection", "features": features}


def script_variables(variables: dict) -> str:
    """``var name = <json>;`` lines, safe inside an inline <script>."""
    lines = [
        f"var {name} = {json.dumps(value, separators=(',', ':'))};"
        for name, value in variables.items()
    ]
    return "\n".join(lines).replace("</", "<\\/")
