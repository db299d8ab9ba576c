"""Consensus clusters: several seeds' clusterings of the same tiles combined into one.

Method: k-means on the seeds' concatenated embeddings, each seed a *view* of the tiles
(the concatenation baseline of multi-view k-means; Bickel and Scheffer, "Multi-view
clustering", ICDM 2004). Every seed's embedding (clusters stage: PCA-whitened,
L2-normalised rows) is concatenated side by side and scaled by 1/sqrt(S), so that each
seed weighs the same and rows keep unit norm; then the clusters stage's own k-means (faiss,
best of ``n_init`` restarts) and id ordering (``cluster_tiles.order_labels``: the first
coordinate is the reference seed's PC1) run on it for every k. The k-means objective is
then the sum over seeds of the within-cluster squared distances in each seed's embedding:
the consensus is the partition that is compact in every seed at once.

Why not a label ensemble: the quadratic-mutual-information consensus of Topchy, Jain and
Punch (TPAMI 2005: k-means on the seeds' one-hot memberships, i.e. the co-association
matrix without N x N memory) and its "evidence accumulation" variant over several k (Fred
and Jain, TPAMI 2005) were measured on the demo city against this method, over the ten
splits of six seeds into two groups of three (experiments/consensus.py, BENCHMARKS.md): at
k = 8 the two groups' consensus agreed with NMI 0.59 (memberships at the same k), 0.72
(memberships at every k) and 0.69 (joint embedding), but the every-k label ensemble broke
at k = 2 (0.19: k-means on memberships prefers two halves to the one small cluster every
seed agrees on), where the joint embedding gave 0.99. The joint embedding also gave the
best agreement with the planted phenotypes at most k. Memory grows as tiles x seeds x
embedding columns (no tiles x tiles matrix).

Each tile's *confidence* at k is the share of seeds that agree with its consensus cluster:
every seed's clusters at k are matched one to one to the consensus clusters (the Hungarian
assignment on their contingency table, maximising the tiles in common), and a seed agrees
on a tile when the tile's cluster under that seed is matched to its consensus cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from satcluster.clustering.cluster_tiles import cluster_embedding, labels_table
from satcluster.columns import TILE_ID, labels_file_column
from satcluster.errors import InputError
from satcluster.io import atomic_path, require_file
from satcluster.runlog import timed
from satcluster.tables import require_columns

__all__ = [
    "confidence_table",
    "consensus_all_ks",
    "consensus_clusters",
    "joint_embedding",
    "matched_labels",
    "tile_confidence",
]

log = logging.getLogger(__name__)


def joint_embedding(embeddings: Sequence[np.ndarray]) -> np.ndarray:
    """The seeds' embeddings side by side (float32), scaled by 1/sqrt(S): equal weights."""
    if len(embeddings) < 2:
        raise ValueError(f"a consensus needs two or more seeds, got {len(embeddings)}")
    rows = {len(e) for e in embeddings}
    if len(rows) > 1:
        raise ValueError(f"embeddings of different numbers of tiles: {sorted(rows)}")
    joint = np.concatenate([np.asarray(e, dtype=np.float32) for e in embeddings], axis=1)
    joint /= np.float32(np.sqrt(len(embeddings)))
    return joint


def _contingency(a: np.ndarray, b: np.ndarray, n_a: int, n_b: int) -> np.ndarray:
    return np.bincount(a * n_b + b, minlength=n_a * n_b).reshape(n_a, n_b)


def matched_labels(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``other`` relabelled with the ``reference`` ids matched one to one (Hungarian).

    The matching maximises the tiles on which the two agree. Clusters of ``other`` left
    without a partner (it has more clusters than ``reference``) get id -1.
    """
    reference, other = np.asarray(reference, np.int64), np.asarray(other, np.int64)
    if reference.shape != other.shape:
        raise ValueError(f"labellings of different shapes: {reference.shape}, {other.shape}")
    if reference.size == 0:
        return other.copy()
    if reference.min() < 0 or other.min() < 0:
        raise ValueError("cluster ids must be >= 0")
    n_ref, n_other = int(reference.max()) + 1, int(other.max()) + 1
    table = _contingency(reference, other, n_ref, n_other)
    rows, cols = linear_sum_assignment(table, maximize=True)
    mapping = np.full(n_other, -1, dtype=np.int64)
    mapping[cols] = rows
    return mapping[other]


def tile_confidence(consensus: np.ndarray, labelings: Sequence[np.ndarray]) -> np.ndarray:
    """Per tile, the share of ``labelings`` whose matched cluster is its consensus cluster."""
    if not labelings:
        raise ValueError("no labellings to compare the consensus with")
    agree = [matched_labels(consensus, labels) == consensus for labels in labelings]
    return np.mean(agree, axis=0)


def consensus_all_ks(
    embeddings: Sequence[np.ndarray],
    labelings: Sequence[dict[int, np.ndarray]],
    ks: Sequence[int],
    seed: int = 0,
    n_init: int = 10,
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Consensus labels (ids ordered across k) and tile confidence, for every k.

    ``embeddings``: each seed's embedding (the reference seed first: its first column
    orders the ids); ``labelings``: each seed's {k: labels}, in the same order, over the
    same tiles.
    """
    if len(labelings) != len(embeddings):
        raise ValueError(f"{len(embeddings)} embeddings but {len(labelings)} labellings")
    with timed(log, f"joint embedding of {len(embeddings)} seeds"):
        joint = joint_embedding(embeddings)
    log.info("joint embedding: %d tiles x %d columns", *joint.shape)
    labels, _ = cluster_embedding(joint, ks, seed, n_init)
    confidence = {}
    for k in sorted(ks):
        confidence[k] = tile_confidence(labels[k], [s[k] for s in labelings])
        log.info(
            "k=%d: mean tile confidence %.3f, %.1f%% of tiles agreed on by every seed",
            k,
            confidence[k].mean() if len(confidence[k]) else np.nan,
            100 * np.mean(confidence[k] == 1.0) if len(confidence[k]) else np.nan,
        )
    return labels, confidence


def confidence_table(confidence_by_k: dict[int, np.ndarray]) -> pd.DataFrame:
    """confidence.parquet layout: tile_id, then one float64 column ``k{k}`` per k (0..1)."""
    n = len(next(iter(confidence_by_k.values())))
    table = {TILE_ID: np.arange(n, dtype=np.int64)}
    for k in sorted(confidence_by_k):
        table[labels_file_column(k)] = np.asarray(confidence_by_k[k], dtype=np.float64)
    return pd.DataFrame(table)


def _read_seed_labels(path: str | Path, ks: Sequence[int]) -> dict[int, np.ndarray]:
    """One seed's labels.parquet as {k: labels}, checked to hold every k, tiles 0..N-1."""
    table = pd.read_parquet(require_file(path, "cluster labels"))
    columns = [labels_file_column(k) for k in sorted(ks)]
    require_columns(
        table, [TILE_ID, *columns], path, "rerun its clusters stage with the current `clusters.ks`."
    )
    if not np.array_equal(table[TILE_ID].to_numpy(), np.arange(len(table))):
        raise InputError(f"{path}: tile_id is not 0..N-1 in order; rerun its clusters stage.")
    return {k: table[labels_file_column(k)].to_numpy() for k in ks}


def _read_seed_embedding(path: str | Path, n_tiles: int, labels_path: str | Path) -> np.ndarray:
    embedding = np.load(require_file(path, "embedding"), mmap_mode="r")
    if embedding.ndim != 2 or len(embedding) != n_tiles:
        raise InputError(
            f"{path} has shape {embedding.shape} but {labels_path} labels {n_tiles} tiles; "
            "they must come from one clustering: rerun that seed's clusters stage."
        )
    return embedding


def consensus_clusters(
    embedding_paths: Sequence[str | Path],
    label_paths: Sequence[str | Path],
    labels_path: str | Path,
    confidence_path: str | Path,
    ks: Sequence[int],
    seed: int = 0,
    n_init: int = 10,
) -> pd.DataFrame:
    """The consensus stage: labels.parquet and confidence.parquet from every seed's clusters.

    ``embedding_paths`` and ``label_paths``: each seed's embedding.npy and labels.parquet,
    in the same order, the reference seed first. Returns the consensus labels table.
    """
    labelings = [_read_seed_labels(path, ks) for path in label_paths]
    sizes = {
        str(p): len(next(iter(s.values()))) for p, s in zip(label_paths, labelings, strict=True)
    }
    if len(set(sizes.values())) > 1:
        raise InputError(
            f"the seeds' labels hold different numbers of tiles ({sizes}); they must cluster "
            "the same tiles: rerun their clusters stage with the current tiles."
        )
    embeddings = [
        _read_seed_embedding(e, n, p)
        for e, p, n in zip(embedding_paths, label_paths, sizes.values(), strict=True)
    ]
    labels, confidence = consensus_all_ks(embeddings, labelings, ks, seed, n_init)
    table = labels_table(labels)
    with atomic_path(labels_path) as tmp_labels, atomic_path(confidence_path) as tmp_conf:
        table.to_parquet(tmp_labels, index=False)
        confidence_table(confidence).to_parquet(tmp_conf, index=False)
    return table
