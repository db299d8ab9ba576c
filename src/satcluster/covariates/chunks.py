"""Chunking of the tile index for per-chunk covariate jobs, and their gather."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from satcluster.columns import TILE_ID
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
    tiles = gpd.read_parquet(index_path).set_index(TILE_ID, drop=True).sort_index()
    start, stop = chunk_bounds(len(tiles), chunk, n_chunks)
    return tiles.iloc[start:stop]


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """Write a covariate table (index tile_id) to Parquet atomically."""
    table = table.copy()
    table.index.name = TILE_ID
    with atomic_path(path) as tmp:
        table.reset_index().to_parquet(tmp, index=False)


def gather_tables(paths: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate per-chunk tables, check tile_ids are unique, write sorted by tile_id."""
    table = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    if table[TILE_ID].duplicated().any():
        raise ValueError("covariate chunks overlap: a tile_id appears in two chunks")
    table = table.sort_values(TILE_ID).set_index(TILE_ID)
    write_table(table, out)
    return table
