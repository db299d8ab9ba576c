"""The comparison stage of a study: the four tables of results/comparison/ from its labels.

Reads every model's city labels (one per scale and seed) and every city's tile index
(one per scale), and writes, with the measures of satcluster.comparison:

- ``seed_agreement.csv``: scale, k, seed_a, seed_b, nmi, ari (every pair of seeds);
- ``scale_agreement.csv``: city, k, fine, coarse, nmi, ari (every pair of scales; the
  reference seed; each fine tile against the coarse tile that holds it);
- ``city_shares.csv``: scale, seed, k, city, cluster, share;
- ``cluster_stability.csv``: scale, k, cluster, n_tiles, seed_stability, scale_stability
  (clusters of the reference seed; best-match Jaccard across seeds and across scales).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pandas as pd

from satcluster.comparison import city_shares, scale_agreement, seed_agreement, write_csv
from satcluster.io import require_file
from satcluster.stability import Scale, cluster_stability

__all__ = ["ComparisonFiles", "compare_clusterings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComparisonFiles:
    """Where the four comparison tables go."""

    seeds: str | Path
    scales: str | Path
    shares: str | Path
    stability: str | Path


def compare_clusterings(
    labels: Mapping[tuple[int, int], str | Path],
    indexes: Mapping[tuple[str, int], str | Path],
    ks: Sequence[int],
    out: ComparisonFiles,
) -> dict[str, pd.DataFrame]:
    """Write the four tables; ``labels``: (scale, seed) -> city labels, first seed = reference.

    ``indexes``: (city, scale) -> that city's tile index. Returns the tables by name.
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
    columns = ["city", "k", "fine", "coarse", "nmi", "ari"]
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
    return pd.concat(parts, ignore_index=True)[["scale", "seed", "k", "city", "cluster", "share"]]


def _stability_table(tables, by_scale: Mapping[int, Scale], seeds, ks) -> pd.DataFrame:
    parts = []
    for scale, this in by_scale.items():
        others = [tables[(scale, seed)] for seed in seeds[1:]]
        other_scales = [s for side, s in by_scale.items() if side != scale]
        parts.append(cluster_stability(this, others, other_scales, ks).assign(scale=scale))
    columns = ["scale", "k", "cluster", "n_tiles", "seed_stability", "scale_stability"]
    return pd.concat(parts, ignore_index=True)[columns]
