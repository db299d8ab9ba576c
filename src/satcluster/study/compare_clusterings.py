"""The comparison stage of a study: the four tables of results/comparison/ from its labels.

Reads every model's city labels (one per scale and seed) and every city's tile index
(one per scale), and writes, with the measures of satcluster.study.comparison:

- ``seed_agreement.csv``: scale, k, seed_a, seed_b, nmi, ari (every pair of seeds);
- ``scale_agreement.csv``: city, k, fine, coarse, nmi, ari (every pair of scales; the
  reference seed; each fine tile against the coarse tile that holds it);
- ``city_shares.csv``: scale, seed, k, city, cluster, share;
- ``cluster_stability.csv``: scale, clustering, k, cluster, n_tiles, seed_stability,
  scale_stability, mean_confidence: best-match Jaccard across seeds and across scales of
  the clusters of the reference seed (clustering ``seed<seed>``: against the other seeds)
  and, with a consensus, of the consensus clusters (clustering ``consensus``: against every
  seed, and the consensus of the other scales; mean_confidence: the mean confidence of the
  cluster's tiles, NaN for the seed's clusters).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from satcluster.clustering.cluster_means import cluster_means
from satcluster.columns import CITY, CLUSTER, TILE_ID
from satcluster.io import require_file
from satcluster.study.comparison import (
    city_shares,
    label_columns,
    scale_agreement,
    seed_agreement,
    write_csv,
)
from satcluster.study.pooling import city_labels
from satcluster.study.stability import STABILITY_COLUMNS, Scale, cluster_stability

__all__ = ["ComparisonFiles", "ConsensusFiles", "compare_clusterings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComparisonFiles:
    """Where the four comparison tables go."""

    seeds: str | Path
    scales: str | Path
    shares: str | Path
    stability: str | Path


@dataclass(frozen=True)
class ConsensusFiles:
    """One scale's consensus: pooled labels and confidence, and the pooled tile index."""

    labels: str | Path
    confidence: str | Path
    index: str | Path


def compare_clusterings(
    labels: Mapping[tuple[int, int], str | Path],
    indexes: Mapping[tuple[str, int], str | Path],
    ks: Sequence[int],
    out: ComparisonFiles,
    consensus: Mapping[int, ConsensusFiles] | None = None,
) -> dict[str, pd.DataFrame]:
    """Write the four tables; ``labels``: (scale, seed) -> city labels, first seed = reference.

    ``indexes``: (city, scale) -> that city's tile index; ``consensus``: scale -> that
    scale's consensus files, if any. Returns the tables by name.
    """
    scales = sorted({scale for scale, _ in labels})
    seeds = list(dict.fromkeys(seed for _, seed in labels))
    cities = list(dict.fromkeys(city for city, _ in indexes))
    tables = {
        key: pd.read_parquet(require_file(path, "city labels")) for key, path in labels.items()
    }
    index = {
        key: pd.read_parquet(require_file(path, "tile index")) for key, path in indexes.items()
    }
    reference = {scale: tables[(scale, seeds[0])] for scale in scales}
    by_scale = {
        scale: Scale(scale, reference[scale], {c: index[(c, scale)] for c in cities})
        for scale in scales
    }
    result = {
        "seeds": _seed_table(tables, scales, seeds, ks),
        "scales": _scale_table(by_scale, cities, ks),
        "shares": _shares_table(tables, scales, seeds, ks),
        "stability": _stability_table(tables, by_scale, seeds, ks),
    }
    if consensus:
        result["stability"] = pd.concat(
            [result["stability"], _consensus_stability(consensus, tables, by_scale, seeds, ks)],
            ignore_index=True,
        )
    for name, table in result.items():
        write_csv(table, getattr(out, name))
    log.info(
        "compared %d cities x %d scales x %d seeds at k in %s",
        len(cities),
        len(scales),
        len(seeds),
        list(ks),
    )
    return result


def _seed_table(tables, scales, seeds, ks) -> pd.DataFrame:
    parts = [
        seed_agreement({seed: tables[(scale, seed)] for seed in seeds}, ks).assign(scale=scale)
        for scale in scales
    ]
    columns = ["scale", "k", "seed_a", "seed_b", "nmi", "ari"]
    return (
        pd.concat(parts, ignore_index=True)[columns]
        if len(seeds) > 1
        else pd.DataFrame(columns=columns)
    )


def _scale_table(by_scale: Mapping[int, Scale], cities, ks) -> pd.DataFrame:
    columns = [CITY, "k", "fine", "coarse", "nmi", "ari"]
    parts = []
    for fine, coarse in combinations(sorted(by_scale), 2):
        for city in cities:
            table = scale_agreement(
                by_scale[fine].indexes[city],
                by_scale[fine].labels,
                by_scale[coarse].indexes[city],
                by_scale[coarse].labels,
                coarse // fine,
                ks,
                city=city,
            )
            parts.append(table.assign(city=city, fine=fine, coarse=coarse))
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def _shares_table(tables, scales, seeds, ks) -> pd.DataFrame:
    parts = [
        city_shares(tables[(scale, seed)], ks).assign(scale=scale, seed=seed)
        for scale in scales
        for seed in seeds
    ]
    return pd.concat(parts, ignore_index=True)[["scale", "seed", "k", CITY, CLUSTER, "share"]]


STABILITY_TABLE_COLUMNS = ["scale", "clustering", *STABILITY_COLUMNS, "mean_confidence"]


def _stability_table(tables, by_scale: Mapping[int, Scale], seeds, ks) -> pd.DataFrame:
    parts = []
    for scale, this in by_scale.items():
        others = [tables[(scale, seed)] for seed in seeds[1:]]
        other_scales = [other for other in by_scale.values() if other.size_px != this.size_px]
        table = cluster_stability(this, others, other_scales, ks)
        parts.append(
            table.assign(scale=scale, clustering=f"seed{seeds[0]}", mean_confidence=np.nan)
        )
    return pd.concat(parts, ignore_index=True)[STABILITY_TABLE_COLUMNS]


def _consensus_stability(
    consensus: Mapping[int, ConsensusFiles], tables, by_scale: Mapping[int, Scale], seeds, ks
) -> pd.DataFrame:
    """The consensus clusters' rows: against every seed, and the other scales' consensus."""
    labels = {s: city_labels(f.labels, f.index) for s, f in consensus.items()}
    confidence = {s: city_labels(f.confidence, f.index) for s, f in consensus.items()}
    scales = {s: Scale(s, labels[s], by_scale[s].indexes) for s in consensus}
    parts = []
    for scale, this in scales.items():
        every_seed = [tables[(scale, seed)] for seed in seeds]
        other_scales = [other for other in scales.values() if other.size_px != this.size_px]
        table = cluster_stability(this, every_seed, other_scales, ks)
        table["mean_confidence"] = _mean_confidence(labels[scale], confidence[scale], ks)
        parts.append(table.assign(scale=scale, clustering="consensus"))
    return pd.concat(parts, ignore_index=True)[STABILITY_TABLE_COLUMNS]


def _mean_confidence(labels: pd.DataFrame, confidence: pd.DataFrame, ks) -> np.ndarray:
    """Mean tile confidence of every cluster id 0..k-1, k ascending (rows as the labels)."""
    if not labels[[CITY, TILE_ID]].equals(confidence[[CITY, TILE_ID]]):
        raise ValueError("the consensus labels and confidence hold different tiles")
    columns = zip(sorted(ks), label_columns(ks), strict=True)
    return np.concatenate([cluster_means(labels[col], confidence[col], k) for k, col in columns])
