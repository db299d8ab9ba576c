"""Consensus of seeds on the demo city: more stable than one seed, and no worse a phenotype map?

Reproduce (repository root; trains six seeds, about 25 minutes on 2 cores):

    .venv/bin/python experiments/consensus.py

Runs the workflow (config/config.yaml, the demo city at 64 px) in ``--workdir`` with
``deepcluster.seeds`` = ``--seeds`` and no consensus, up to every seed's clusters; then,
for every split of the seeds into two disjoint halves (10 splits of six seeds into 3 + 3),
takes each half's consensus with satcluster.clustering.consensus_clusters (the workflow's
method and settings) and prints at every k, as means over the splits:

* the agreement (NMI, ARI) between the two halves' consensus labellings, next to the mean
  agreement between single seeds (every pair of the seeds): the stability a user gains;
* the phenotype agreement (NMI against the planted districts) of the consensus labellings
  and of the single seeds: what the consensus costs or gains;
* the mean tile confidence of the consensus.

Then the same two figures for the label ensembles the workflow does not use (k-means on the
seeds' one-hot memberships, Topchy et al. 2005: at the same k only, and over every k of
``clusters.ks``, Fred and Jain 2005), which satcluster.clustering.consensus_clusters
explains. The last line reads: ``consensus: k=<k>: consensus vs consensus NMI <a> (single
seeds <b>); phenotype NMI consensus <c> vs single seeds <d>``.
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import combinations
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from satcluster.clustering.agreement import agreement
from satcluster.clustering.consensus_clusters import consensus_all_ks
from satcluster.demo import demo_city_paths
from satcluster.demo.evaluate_phenotypes import truth_per_tile

ROOT = Path(__file__).resolve().parents[1]
# The workflow runner the speed benchmarks use too (benchmarks/demo_workflow.py).
sys.path.insert(0, str(ROOT / "benchmarks"))
from demo_workflow import run_demo_workflow  # noqa: E402

SCALE = 64  # tiles.size_px of config/config.yaml
CITY = "city"  # the one city of a study without `cities:`


def run_workflow(workdir: Path, seeds: list[int], cores: int) -> tuple[list[str], str, str]:
    """Train every seed and cluster it; the seeds' labels files, the tile index, the truth."""
    labels = [f"results/pooled/{SCALE}px/seed{s}/clusters/labels.parquet" for s in seeds]
    index = f"results/{CITY}/{SCALE}px/tiles/index.parquet"
    truth = str(demo_city_paths(f"resources/demo/{CITY}", 1).truth)
    overrides = {"deepcluster": {"seeds": seeds}, "clusters": {"consensus": False}}
    wall = run_demo_workflow(workdir, overrides, cores, [*labels, index, truth])
    print(f"workflow ({len(seeds)} seeds): {wall:.0f} s", flush=True)
    return [str(workdir / p) for p in labels], str(workdir / index), str(workdir / truth)


def seed_labels(path: str, ks: list[int]) -> dict[int, np.ndarray]:
    table = pd.read_parquet(path)
    return {k: table[f"k{k}"].to_numpy() for k in ks}


def label_ensemble(labelings: list[np.ndarray], k: int, n_init: int) -> np.ndarray:
    """k-means on the one-hot memberships (Topchy et al. 2005), for the comparison only."""
    one_hot = np.concatenate([np.eye(int(labels.max()) + 1)[labels] for labels in labelings], 1)
    return KMeans(n_clusters=k, n_init=n_init, random_state=0).fit_predict(one_hot)


def splits(n: int) -> list[tuple[list[int], list[int]]]:
    """Every split of seeds 0..n-1 into two halves (the first half holds seed 0)."""
    return [
        (list(a), [i for i in range(n) if i not in a])
        for a in combinations(range(n), n // 2)
        if 0 in a
    ]


def scores(methods: dict, seeds: list, truth: np.ndarray, ks: list[int]) -> dict:
    """Method -> k -> (NMI between halves, ARI between halves, phenotype NMI), split means."""
    result = {}
    for name, method in methods.items():
        per_k = {k: [] for k in ks}
        for halves in splits(len(seeds)):
            labels = [method(half) for half in halves]
            for k in ks:
                a, b = labels[0][k], labels[1][k]
                phenotype = np.mean([agreement(x, truth)["nmi"] for x in (a, b)])
                per_k[k].append((*nmi_ari(a, b), phenotype))
        result[name] = {k: np.mean(v, axis=0) for k, v in per_k.items()}
    return result


def nmi_ari(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    return normalized_mutual_info_score(a, b), adjusted_rand_score(a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[31, 32, 33, 34, 35, 36])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/satcluster-consensus"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--k", type=int, default=8, help="the k of the last line")
    args = parser.parse_args()
    if len(args.seeds) < 4 or len(args.seeds) % 2:
        parser.error("give an even number (>= 4) of seeds: two disjoint groups of >= 2")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    ks = sorted(config.get("clusters", {}).get("ks", [2, 4, 6, 8, 10, 12]))
    n_init = config.get("clusters", {}).get("consensus_n_init", 10)
    label_paths, index_path, truth_path = run_workflow(args.workdir, args.seeds, args.cores)

    seeds = [seed_labels(p, ks) for p in label_paths]
    embeddings = [np.load(Path(p).with_name("embedding.npy")) for p in label_paths]
    tiles = gpd.read_parquet(index_path).set_index("tile_id").sort_index()
    truth = truth_per_tile(tiles.geometry, gpd.read_file(truth_path)).to_numpy()
    confidence = {k: [] for k in ks}

    def workflow_method(half: list[int]) -> dict[int, np.ndarray]:
        labels, conf = consensus_all_ks(
            [embeddings[i] for i in half], [seeds[i] for i in half], ks, n_init=n_init
        )
        for k in ks:
            confidence[k].append(conf[k].mean())
        return labels

    methods = {
        "joint embedding (the workflow's)": workflow_method,
        "memberships, same k": lambda half: {
            k: label_ensemble([seeds[i][k] for i in half], k, n_init) for k in ks
        },
        "memberships, every k": lambda half: {
            k: label_ensemble([seeds[i][kk] for i in half for kk in ks], k, n_init) for k in ks
        },
    }
    start = time.perf_counter()
    table = scores(methods, seeds, truth, ks)
    print(
        f"{len(splits(len(seeds)))} splits x {len(methods)} methods: "
        f"{time.perf_counter() - start:.0f} s"
    )
    single = {
        k: np.mean([nmi_ari(a[k], b[k]) for a, b in combinations(seeds, 2)], axis=0) for k in ks
    }
    phenotype_single = {k: np.mean([agreement(s[k], truth)["nmi"] for s in seeds]) for k in ks}

    ours = table["joint embedding (the workflow's)"]
    print(
        f"\n{'k':>3}  {'cons vs cons NMI / ARI':>23}  {'single seeds NMI / ARI':>23}  "
        f"{'phenotype NMI cons / single':>28}  {'mean confidence':>15}"
    )
    for k in ks:
        print(
            f"{k:>3}  {ours[k][0]:>11.3f} / {ours[k][1]:.3f}  "
            f"{single[k][0]:>11.3f} / {single[k][1]:.3f}  "
            f"{ours[k][2]:>15.3f} / {phenotype_single[k]:.3f}  "
            f"{np.mean(confidence[k]):>15.3f}"
        )
    print("\nmethods compared (NMI between the halves' consensus / phenotype NMI), per k:")
    for name, per_k in table.items():
        cells = "  ".join(f"k{k} {v[0]:.2f}/{v[2]:.2f}" for k, v in per_k.items())
        print(f"  {name:<34} {cells}")
    print(
        f"consensus: k={args.k}: consensus vs consensus NMI {ours[args.k][0]:.3f} "
        f"(single seeds {single[args.k][0]:.3f}); phenotype NMI consensus "
        f"{ours[args.k][2]:.3f} vs single seeds {phenotype_single[args.k]:.3f}"
    )


if __name__ == "__main__":
    main()
