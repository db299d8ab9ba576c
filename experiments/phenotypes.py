"""Does DeepCluster find the demo city's planted phenotypes? NMI/ARI against two baselines.

Reproduce (demo city, repository root):

    make run                                  # or: .venv/bin/snakemake --cores 2
    .venv/bin/python experiments/phenotypes.py

Reads results/tiles/tiles.npy, results/tiles/index.parquet, results/clusters/labels.parquet
and resources/demo/truth.gpkg. The truth of a tile is the planted district covering most of
it. The baselines (k-means on 8 x 8 x 3 area-averaged pixels, and on joint 4 x 4 x 4 colour
histograms) go through the clusters stage's own pipeline (PCA-whitening to clusters.pca_dim
+ L2, faiss k-means with clusters.seed and clusters.n_init) at the same k, in this run.
Prints NMI and ARI for every k, and DeepCluster's ratio to each baseline at the final k.
When the assembled results/cluster_shapefile.parquet exists, also prints every final cluster's
name, share and majority phenotype, and the names that satcluster.clustering.naming derives
for the planted districts themselves (a check of the naming rules against the planted names).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import yaml

from satcluster.clustering.agreement import NO_TRUTH
from satcluster.clustering.naming import derive_names
from satcluster.config import validate_config
from satcluster.demo.evaluate_phenotypes import (
    BASELINES,
    DEEPCLUSTER,
    evaluate_phenotypes,
    truth_per_tile,
)

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--truth", type=Path, default=ROOT / "resources/demo/truth.gpkg")
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--csv", type=Path, default=None, help="also write the table here")
    return parser.parse_args()


def cluster_summary(assembled: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> None:
    """Per final cluster: name, share of tiles, majority phenotype; names of planted districts."""
    truth = truth_per_tile(assembled.geometry, districts)
    planted = districts.drop_duplicates("phenotype").set_index("phenotype")["phenotype_name"]
    has_truth = truth != NO_TRUTH
    rows = []
    for (cluster, name), members in assembled[has_truth].groupby(["cluster", "cluster_name"]):
        counts = truth[members.index].value_counts()
        rows.append(
            {
                "cluster": cluster,
                "name": name,
                "share": len(members) / has_truth.sum(),
                "majority phenotype": f"{counts.index[0]} {planted[counts.index[0]]}",
                "purity": counts.iloc[0] / len(members),
            }
        )
    print("\nFinal clusters and their majority planted phenotype:\n")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))
    covariates = assembled.drop(
        columns=["tile_id", "scene", "row", "col", "nodata_fraction", "cluster", "cluster_name"]
        + [c for c in assembled.columns if c.startswith("label_k")]
        + [assembled.geometry.name]
    )
    derived = derive_names(covariates[has_truth], truth[has_truth])
    print("\nNames derived from covariates for the planted districts:\n")
    for phenotype, name in derived.items():
        print(f"  {phenotype} {planted[phenotype]!r:<38} -> {name!r}")


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = validate_config(
        yaml.safe_load(args.config.read_text()), ROOT / "workflow/schemas/config.schema.yaml"
    )
    clusters = config["clusters"]
    start = time.perf_counter()
    table = evaluate_phenotypes(
        args.results / "tiles/tiles.npy",
        args.results / "tiles/index.parquet",
        args.results / "clusters/labels.parquet",
        args.truth,
        args.csv,
        ks=clusters["ks"],
        pca_dim=clusters["pca_dim"],
        seed=clusters["seed"],
        n_init=clusters["n_init"],
    )
    seconds = time.perf_counter() - start
    print(f"\nAgreement with the planted phenotypes ({table['n_tiles'].iloc[0]} tiles):\n")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    final = table[table["k"] == clusters["final_k"]].set_index("method")
    print(f"\nfinal k = {clusters['final_k']}: DeepCluster / baseline")
    for baseline in BASELINES:
        nmi = final.loc[DEEPCLUSTER, "nmi"] / final.loc[baseline, "nmi"]
        ari = final.loc[DEEPCLUSTER, "ari"] / final.loc[baseline, "ari"]
        print(f"  vs {baseline:<17} NMI x{nmi:.2f}   ARI x{ari:.2f}")
    print(f"\n({seconds:.1f} s, config {args.config})")
    assembled = args.results / "cluster_shapefile.parquet"
    if assembled.is_file():
        cluster_summary(gpd.read_parquet(assembled), gpd.read_file(args.truth))


if __name__ == "__main__":
    main()
