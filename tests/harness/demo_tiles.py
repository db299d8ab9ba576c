"""Square tiles over the demo city, each with the phenotype of the district under it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def demo_tiles_by_phenotype(truth_path: Path, size_m: float = 32.0):
    """A grid of square tiles (index tile_id) over the demo city, each with the phenotype
    of the district under its centre; tiles whose centre is in no district are dropped."""
    import geopandas as gpd
    import numpy as np
    import shapely

    truth = gpd.read_file(truth_path)
    west, south, east, north = truth.total_bounds
    x, y = np.meshgrid(
        np.arange(west, east - size_m + 1, size_m), np.arange(south, north - size_m + 1, size_m)
    )
    x, y = x.ravel(), y.ravel()
    tiles = gpd.GeoDataFrame(
        geometry=shapely.box(x, y, x + size_m, y + size_m),
        index=pd.RangeIndex(len(x), name="tile_id"),
        crs=truth.crs,
    )
    centres = gpd.GeoDataFrame(geometry=tiles.centroid, crs=truth.crs)
    joined = centres.sjoin(truth[["phenotype", "geometry"]], predicate="within")
    tiles["phenotype"] = joined["phenotype"].groupby(level=0).first()
    return tiles.dropna(subset=["phenotype"]).astype({"phenotype": int})
