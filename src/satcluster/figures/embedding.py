"""Reading the clustering embedding (rows = tile_id) for the figures that use it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from satcluster.errors import InputError
from satcluster.io import require_file


def load_embedding_rows(path: str | Path, tile_ids: np.ndarray) -> np.ndarray:
    """Rows ``tile_ids`` of embedding.npy (float32), checking that they exist."""
    embedding = np.load(require_file(path, "embedding"), mmap_mode="r")
    if embedding.ndim != 2 or (len(tile_ids) and tile_ids.max() >= embedding.shape[0]):
        raise InputError(
            f"{path} has shape {embedding.shape}, too few rows for tile ids up to "
            f"{tile_ids.max() if len(tile_ids) else 0}; it must hold one row per tile_id: "
            "rerun the clusters stage."
        )
    return np.asarray(embedding[np.asarray(tile_ids, dtype=np.int64)], dtype=np.float32)
