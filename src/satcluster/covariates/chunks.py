"""Chunking of the tile index for per-chunk covariate jobs, and their gather."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from satcluster.io import atomic_path

__all__ = [
    "chunk_bounds",
    "gather_tables",
    "read_tile_chunk",
    "write_table",
]


def chunk_bounds(n_tiles: int, chunk: int, n_chunks: int) -> tuple[int, int]:
    """Half-open tile_id range [start, stop) of ``chunk`` out of ``n_chunks`` contiguous chunks."""
    if not 0 <= chunk < n_chunks:
        raise ValueError(f"chunk {chunk} is outside 0..{n_chunks - 1}")
    edges = np.linspace(0, n_tiles, n_chunks + 1).round().astype(int)
    return int(edges[chunk]), int(edges[chunk + 1])


def read_tile_chunk(index_path: str | Path, chunk: int, n_chunks: int) -> gpd.GeoDataFrame:
    """Tiles of one chunk from the GeoParquet tile index, indexed by tile_id."""
    tiles = gpd.read_parquet(index_path).set_index("tile_id", drop=True).sort_index()
    start, stop = chunk_bounds(len(tiles), chunk, n_chunks)
    return tiles.iloc[start:stop]


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """Write a covariate table (index tile_id) to Parquet atomically."""
    table = table.copy()
    table.index.name = "tile_id"
    with atomic_path(path) as tmp:
        table.reset_index().to_parquet(tmp, index=False)


def gather_tables(paths: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate per-chunk tables, check tile_ids are unique, write sorted by tile_id."""
    table = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    if table["tile_id"].duplicated().any():
        raise ValueError("covariate chunks overlap: a tile_id appears in two chunks")
    table = table.sort_values("tile_id").set_index("tile_id")
    write_table(table, out)
    return table
