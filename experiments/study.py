"""What the demo study measures: seed agreement, stable clusters, per-city phenotype agreement.

Reproduce (repository root, about 10 minutes on 2 cores):

    make study                                # = snakemake --cores all --configfile config/study_demo.yaml
    .venv/bin/python experiments/study.py

Reads results/comparison/*.csv and every city's clusters/phenotype_agreement.csv, and
prints, at k (default: clusters.final_k of the study, 8): the agreement (NMI, ARI) between
the seeds at every scale, each reference-seed cluster's stability across seeds and across
scales (mean best-match Jaccard index; a cluster is called stable at >= 0.8), then the
same for the seeds' consensus clusters (with their mean tile confidence) and the planted
phenotype most of the tiles of each cluster the maps show belong to, and DeepCluster's phenotype agreement per
city and scale next to the pixel baseline measured in the same run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STABLE = 0.8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args()
    comparison = args.results / "comparison"
    k = args.k

    seeds = pd.read_csv(comparison / "seed_agreement.csv")
    print(f"seed agreement at k = {k} (every pair of seeds):")
    for row in seeds[seeds["k"] == k].itertuples():
        print(
            f"  {row.scale:>4} px  seeds {row.seed_a}/{row.seed_b}: NMI {row.nmi:.3f}  ARI {row.ari:.3f}"
        )

    stability = pd.read_csv(comparison / "cluster_stability.csv")
    stability = stability[(stability["k"] == k) & (stability["n_tiles"] > 0)]
    phenotypes = majority_phenotypes(args.results, k)  # of the clusters the maps show
    for clustering, rows in stability.groupby("clustering", sort=False):
        print(f"\ncluster stability at k = {k} ({clustering}; stable: >= {STABLE} both ways):")
        for row in rows.itertuples():
            stable = row.seed_stability >= STABLE and row.scale_stability >= STABLE
            phenotype = phenotypes.get((row.scale, row.cluster), "?")
            shown = clustering == "consensus" or "consensus" not in set(stability["clustering"])
            confidence = (
                "" if pd.isna(row.mean_confidence) else f", confidence {row.mean_confidence:.2f}"
            )
            print(
                f"  {row.scale:>4} px  cluster {row.cluster}: {row.n_tiles:>5} tiles, seeds "
                f"{row.seed_stability:.2f}, scales {row.scale_stability:.2f}{confidence}"
                f"{'  STABLE' if stable else ''}"
                f"{f'  (mostly {phenotype})' if shown else ''}"
            )

    print(
        f"\nphenotype agreement at k = {k} per city and scale (DeepCluster, baselines of the same run):"
    )
    for path in sorted(args.results.glob("*/*px/clusters/phenotype_agreement.csv")):
        table = pd.read_csv(path)
        table = table[table["k"] == k].set_index("method")
        if table.empty:
            continue
        city, scale = path.parts[-4], path.parts[-3]
        scores = "   ".join(
            f"{method} NMI {row.nmi:.3f} ARI {row.ari:.3f}" for method, row in table.iterrows()
        )
        print(f"  {city:<8} {scale:>6}: {scores}")


def majority_phenotypes(results: Path, k: int) -> dict[tuple[int, int], str]:
    """(scale, cluster) -> the planted phenotype of most of the cluster's tiles, all cities."""
    counts: dict[tuple[int, int], pd.Series] = {}
    for path in results.glob("*/*px/cluster_shapefile.parquet"):
        scale = int(path.parts[-2].removesuffix("px"))
        city = path.parts[-3]
        table = gpd.read_parquet(path)
        truth_path = results.parent / "resources" / "demo" / city / "truth.gpkg"
        truth = gpd.read_file(truth_path).to_crs(table.crs)
        centres = gpd.GeoDataFrame(table[[f"label_k{k}"]], geometry=table.centroid, crs=table.crs)
        joined = gpd.sjoin(centres, truth[["phenotype_name", "geometry"]], how="inner")
        for (cluster, name), n in joined.groupby([f"label_k{k}", "phenotype_name"]).size().items():
            key = (scale, int(cluster))
            counts[key] = counts.get(key, pd.Series(dtype=int)).add(
                pd.Series({name: n}), fill_value=0
            )
    return {key: str(series.idxmax()) for key, series in counts.items()}


if __name__ == "__main__":
    main()
