"""Agreement of the clusters with the demo city's planted phenotypes, next to two baselines.

The truth of a tile is the planted district (``truth.gpkg``, column
``phenotype``) that covers most of its area. Agreement is measured with NMI
and ARI (``satcluster.clustering.agreement``) over the tiles that touch a district. The baselines go
through exactly the pipeline of the clusters stage (PCA-whitening to
``pca_dim`` + L2, at most the features' rank; faiss k-means with the same seed
and restarts; same k):

* ``raw pixels``: every tile area-averaged to 8 x 8 px x 3 bands (192 values);
* ``colour histogram``: the joint RGB histogram with 4 bins per band
  (64 values, fractions of the tile's pixels).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from satcluster.clustering.agreement import NO_TRUTH, agreement
from satcluster.clustering.cluster_tiles import cluster_embedding, whitened_embedding
from satcluster.columns import TILE_ID, labels_file_column
from satcluster.errors import InputError
from satcluster.io import atomic_path, require_file
from satcluster.runlog import timed

__all__ = [
    "BASELINES",
    "DEEPCLUSTER",
    "baseline_features",
    "colour_histograms",
    "downsampled_pixels",
    "evaluate_phenotypes",
    "phenotype_agreement",
    "truth_per_tile",
]

log = logging.getLogger(__name__)

CHUNK = 4096  # tiles per block when computing baseline features from the memory-mapped array
DEEPCLUSTER = "DeepCluster"
BASELINES = ("raw pixels", "colour histogram")


def truth_per_tile(
    tiles: gpd.GeoSeries, districts: gpd.GeoDataFrame, column: str = "phenotype"
) -> pd.Series:
    """Per tile (``tiles`` index), the ``column`` value of the district covering most of its area.

    Ties go to the lower value; tiles touching no district get -1.
    """
    if districts.crs is None:
        raise InputError("truth districts have no CRS; regenerate the demo data.")
    districts = districts.to_crs(tiles.crs)
    tile_pos, district_pos = districts.sindex.query(tiles.to_numpy(), predicate="intersects")
    areas = shapely.area(
        shapely.intersection(
            tiles.to_numpy()[tile_pos], districts.geometry.to_numpy()[district_pos]
        )
    )
    overlaps = pd.DataFrame(
        {
            "tile": tile_pos,
            "truth": districts[column].to_numpy()[district_pos].astype(np.int64),
            "area": areas,
        }
    )
    overlaps = overlaps[overlaps["area"] > 0].sort_values(
        ["tile", "area", "truth"], ascending=[True, False, True]
    )
    best = overlaps.drop_duplicates("tile").set_index("tile")["truth"]
    truth = np.full(len(tiles), NO_TRUTH, dtype=np.int64)
    truth[best.index.to_numpy()] = best.to_numpy()
    return pd.Series(truth, index=tiles.index, name=column)


def area_weights(src: int, dst: int) -> np.ndarray:
    """dst x src matrix: share of source pixel j in output pixel i (rows sum to 1)."""
    edges = np.arange(dst + 1) * src / dst
    lo = np.maximum(edges[:-1, None], np.arange(src)[None, :])
    hi = np.minimum(edges[1:, None], np.arange(1, src + 1)[None, :])
    return np.clip(hi - lo, 0, None) * dst / src


def downsampled_pixels(tiles: np.ndarray, size: int = 8) -> np.ndarray:
    """Tiles (N x S x S x 3 uint8) area-averaged to ``size`` x ``size`` px: N x size*size*3."""
    weights = area_weights(tiles.shape[1], size).astype(np.float32)
    out = np.empty((len(tiles), size * size * tiles.shape[-1]), dtype=np.float32)
    for start in range(0, len(tiles), CHUNK):
        block = np.asarray(tiles[start : start + CHUNK], dtype=np.float32)
        pooled = np.einsum("is,nstc,jt->nijc", weights, block, weights, optimize=True)
        out[start : start + CHUNK] = pooled.reshape(len(block), -1)
    return out


def colour_histograms(tiles: np.ndarray, bins: int = 4) -> np.ndarray:
    """Joint RGB histogram per tile with ``bins`` bins per band, as pixel fractions: N x bins**3."""
    n_bins = bins**3
    out = np.empty((len(tiles), n_bins), dtype=np.float32)
    for start in range(0, len(tiles), CHUNK):
        block = np.asarray(tiles[start : start + CHUNK]).astype(np.int64) * bins // 256
        cell = (block[..., 0] * bins + block[..., 1]) * bins + block[..., 2]
        cell = cell.reshape(len(block), -1)
        offsets = np.arange(len(block))[:, None] * n_bins
        counts = np.bincount((cell + offsets).ravel(), minlength=len(block) * n_bins)
        out[start : start + CHUNK] = counts.reshape(len(block), n_bins) / cell.shape[1]
    return out


def cluster_features(
    features: np.ndarray, ks: Sequence[int], pca_dim: int, seed: int, n_init: int
) -> dict[int, np.ndarray]:
    """The clusters stage's pipeline (whitening, k-means, ordered ids) on other features."""
    labels, _ = cluster_embedding(whitened_embedding(features, pca_dim, seed), ks, seed, n_init)
    return labels


def baseline_features(tiles: np.ndarray) -> dict[str, np.ndarray]:
    """Features of the two baselines, by method name."""
    return {"raw pixels": downsampled_pixels(tiles), "colour histogram": colour_histograms(tiles)}


def phenotype_agreement(
    tiles: np.ndarray,
    truth: pd.Series,
    labels: pd.DataFrame,
    ks: Sequence[int],
    pca_dim: int,
    seed: int,
    n_init: int,
) -> pd.DataFrame:
    """Table (method, k, nmi, ari, n_tiles) for DeepCluster's labels and both baselines."""
    rows = [
        {
            "method": DEEPCLUSTER,
            "k": k,
            **agreement(labels[labels_file_column(k)].to_numpy(), truth.to_numpy()),
        }
        for k in sorted(ks)
    ]
    for method, features in baseline_features(tiles).items():
        with timed(log, f"baseline {method!r}: {features.shape[1]} features, k-means"):
            baseline = cluster_features(features, ks, pca_dim, seed, n_init)
        rows += [
            {"method": method, "k": k, **agreement(baseline[k], truth.to_numpy())}
            for k in sorted(ks)
        ]
    return pd.DataFrame(rows)


def load_inputs(
    tiles_path: str | Path, index_path: str | Path, labels_path: str | Path, truth_path: str | Path
) -> tuple[np.ndarray, pd.Series, pd.DataFrame]:
    """Memory-mapped tiles, truth phenotype per tile, labels; all in tile_id order."""
    tiles = np.load(require_file(tiles_path, "tiles"), mmap_mode="r")
    index = gpd.read_parquet(require_file(index_path, "tile index")).set_index(TILE_ID)
    labels = pd.read_parquet(require_file(labels_path, "cluster labels")).set_index(TILE_ID)
    index, labels = index.sort_index(), labels.sort_index()
    if not (len(tiles) == len(index) and labels.index.equals(index.index)):
        raise InputError(
            f"{tiles_path} ({len(tiles)} tiles), {index_path} ({len(index)}) and {labels_path} "
            f"({len(labels)}) disagree; rerun the workflow so they come from the same tiles."
        )
    districts = gpd.read_file(require_file(truth_path, "truth phenotypes"))
    return tiles, truth_per_tile(index.geometry, districts), labels


def evaluate_phenotypes(
    tiles_path: str | Path,
    index_path: str | Path,
    labels_path: str | Path,
    truth_path: str | Path,
    out_path: str | Path | None,
    ks: Sequence[int],
    pca_dim: int,
    seed: int,
    n_init: int,
) -> pd.DataFrame:
    """Agreement table of DeepCluster and the baselines; written to ``out_path`` as CSV if given."""
    tiles, truth, labels = load_inputs(tiles_path, index_path, labels_path, truth_path)
    log.info("truth: %d tiles in %d phenotypes", (truth != NO_TRUTH).sum(), truth.nunique())
    table = phenotype_agreement(tiles, truth, labels, ks, pca_dim, seed, n_init)
    if out_path is not None:
        with atomic_path(out_path) as tmp:
            table.to_csv(tmp, index=False, float_format="%.4f")
    return table
