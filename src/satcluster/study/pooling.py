"""Pooling the tiles of several cities for one model, and splitting its results back.

A study trains one DeepCluster model per scale and seed on the tiles of every city
(as Metzler et al.'s follow-up did for four African cities) and clusters the pooled
embedding, so that a cluster id means the same in every city. The pooled tiles are
the cities' ``tiles.npy`` one after the other (copied file to file); the pooled
index maps each pooled row (``tile_id`` of the pooled files) to its ``city`` and
``city_tile_id``. Every tile weighs the same: a city's weight is its number of tiles.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from satcluster.columns import CITY, CITY_TILE_ID, TILE_ID
from satcluster.errors import InputError
from satcluster.io import atomic_path
from satcluster.tables import require_columns
from satcluster.tiling.npy import copy_bytes, open_for_writing, write_npy_header

__all__ = ["POOLED_INDEX_COLUMNS", "city_labels", "pool_tiles", "split_city", "split_city_table"]

log = logging.getLogger(__name__)

POOLED_INDEX_COLUMNS = [TILE_ID, CITY, CITY_TILE_ID]


def pool_tiles(
    cities: Sequence[str],
    city_npys: Sequence[str | Path],
    out_npy: str | Path,
    out_index: str | Path,
) -> pd.DataFrame:
    """Concatenate the cities' tiles (in ``cities`` order) into one .npy; return the index."""
    if not cities:
        raise InputError("no city to pool: list the study's cities under `cities:`.")
    arrays = [np.load(path, mmap_mode="r") for path in city_npys]
    for name, path, array in zip(cities, city_npys, arrays, strict=True):
        if array.dtype != np.uint8 or array.ndim != 4 or not array.flags.c_contiguous:
            raise InputError(
                f"{path} (city {name}) holds a {array.dtype} array of shape {array.shape}; "
                "expected the uint8 N x H x W x 3 tiles of the tiles stage: delete it and rerun."
            )
    shapes = {name: a.shape[1:] for name, a in zip(cities, arrays, strict=True)}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name}: {shape}" for name, shape in shapes.items())
        raise InputError(
            f"the cities' tiles differ in shape ({listed}); a scale must tile every city at "
            "the same size (check `tiles.resolution_m`)."
        )
    tile_shape = arrays[0].shape[1:]
    index = pd.DataFrame(
        {
            TILE_ID: np.arange(sum(len(a) for a in arrays), dtype=np.int64),
            CITY: np.repeat(list(cities), [len(a) for a in arrays]),
            CITY_TILE_ID: np.concatenate([np.arange(len(a), dtype=np.int64) for a in arrays]),
        }
    )
    with atomic_path(out_npy) as tmp_npy, atomic_path(out_index) as tmp_index:
        with contextlib.ExitStack() as stack:
            dst = stack.enter_context(open_for_writing(Path(tmp_npy)))
            offset = write_npy_header(dst, (len(index), *tile_shape))
            dst.flush()
            for array in arrays:
                size = array.size * array.itemsize
                with open(array.filename, "rb") as src:
                    copy_bytes(src.fileno(), array.offset, dst.fileno(), offset, size)
                offset += size
        index.to_parquet(tmp_index, index=False)
    counts = ", ".join(f"{name}={len(a)}" for name, a in zip(cities, arrays, strict=True))
    log.info("pooled %d tiles of %d cities (%s)", len(index), len(cities), counts)
    return index


def _pooled_index(path: str | Path) -> pd.DataFrame:
    index = pd.read_parquet(path)
    require_columns(index, POOLED_INDEX_COLUMNS, path, "delete it and rerun.")
    return index


def city_labels(labels_path: str | Path, pooled_index_path: str | Path) -> pd.DataFrame:
    """The pooled labels with ``city`` and the city's own ``tile_id`` (for comparisons)."""
    labels = pd.read_parquet(labels_path)
    index = _pooled_index(pooled_index_path)
    if len(labels) != len(index) or not np.array_equal(labels[TILE_ID], index[TILE_ID]):
        raise InputError(
            f"{labels_path} does not label the tiles of {pooled_index_path} (different rows); "
            "delete the clusters and rerun."
        )
    label_columns = [c for c in labels.columns if c != TILE_ID]
    out = pd.DataFrame({CITY: index[CITY].astype(str), TILE_ID: index[CITY_TILE_ID]})
    return pd.concat([out, labels[label_columns]], axis=1)


def split_city(
    city: str,
    labels_path: str | Path,
    embedding_path: str | Path,
    pooled_index_path: str | Path,
    out_labels: str | Path,
    out_embedding: str | Path,
) -> int:
    """One city's rows of the pooled labels and embedding, with its own ``tile_id``s."""
    table = city_labels(labels_path, pooled_index_path)
    rows = _city_rows(table, city, pooled_index_path)
    embedding = np.load(embedding_path, mmap_mode="r")
    if len(embedding) != len(table):
        raise InputError(
            f"{embedding_path} has {len(embedding)} rows but {labels_path} labels {len(table)} "
            "tiles; they must come from one clustering: delete both and rerun."
        )
    with atomic_path(out_labels) as tmp_labels, atomic_path(out_embedding) as tmp_embedding:
        mine = _city_table(table, rows)
        mine.to_parquet(tmp_labels, index=False)
        with open(tmp_embedding, "wb") as f:
            np.save(f, np.ascontiguousarray(embedding[rows[0] : rows[-1] + 1]))
    return len(rows)


def _city_rows(table: pd.DataFrame, city: str, pooled_index_path: str | Path) -> np.ndarray:
    """The rows of ``city`` in a pooled table (one run of rows, as pool_tiles writes them)."""
    rows = np.flatnonzero(table[CITY].to_numpy() == city)
    if len(rows) == 0:
        raise InputError(f"{pooled_index_path} holds no tile of city {city!r}; rerun the pooling.")
    if rows[-1] - rows[0] + 1 != len(rows):
        raise InputError(f"{pooled_index_path}: the tiles of {city!r} are not one run; rerun it.")
    return rows


def _city_table(table: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    return table.iloc[rows].drop(columns=CITY).reset_index(drop=True)


def split_city_table(
    city: str, table_path: str | Path, pooled_index_path: str | Path, out_path: str | Path
) -> int:
    """One city's rows of a pooled per-tile table (e.g. the consensus confidence)."""
    table = city_labels(table_path, pooled_index_path)
    rows = _city_rows(table, city, pooled_index_path)
    with atomic_path(out_path) as tmp:
        _city_table(table, rows).to_parquet(tmp, index=False)
    return len(rows)
