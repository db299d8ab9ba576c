"""A study end to end: two demo cities (two UTM zones), two scales, two seeds in one run.

The tiny study (tests/configs/tiny_study.yaml merged into the tiny config) is run once
(`tiny_study_run`); these tests read what it wrote, as a user of the comparison would.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from satcluster.clustering.consensus_clusters import tile_confidence
from satcluster.study.pooling import city_labels
from tests.harness.tiny_runs import TinyRun, tiny_study_overrides
from tests.harness.workflow_dir import WorkflowDir

pytestmark = pytest.mark.slow

STUDY = tiny_study_overrides()
CITIES = {"accra": "EPSG:32630", "dakar": "EPSG:32628"}
SCALES = STUDY["tiles"]["size_px"]
SEEDS = STUDY["deepcluster"]["seeds"]
KS = [2, 4]  # clusters.ks of the tiny config


@pytest.fixture(scope="module")
def results(tiny_study_run: TinyRun) -> Path:
    return tiny_study_run.workdir.path / "results"


def city_dir(results: Path, city: str, scale: int) -> Path:
    return results / city / f"{scale}px"


@pytest.mark.parametrize("city", CITIES)
@pytest.mark.parametrize("scale", SCALES)
def test_every_city_and_scale_has_its_geojson_in_its_crs(results: Path, city: str, scale: int):
    folder = city_dir(results, city, scale)
    table = gpd.read_file(folder / "cluster_shapefile.geojson")
    assert table.crs.to_string() == CITIES[city]
    index = pd.read_parquet(folder / "tiles" / "index.parquet")
    assert sorted(table["tile_id"]) == sorted(index["tile_id"])  # that city's tiles only
    assert {"cluster", "label_k2", "label_k4", "building_count", "ndvi_mean"} <= set(table)
    for name in ("cluster_map", "example_tiles", "training_curves", "phenotype_contingency"):
        assert (folder / "figures" / f"{name}.png").is_file(), name
    assert (folder / "map.html").is_file()
    agreement = pd.read_csv(folder / "clusters" / "phenotype_agreement.csv")
    assert set(agreement["k"]) >= set(KS)


def test_the_single_city_layout_is_not_written(results: Path):
    assert not (results / "cluster_shapefile.geojson").exists()
    assert not (results / "deepcluster").exists()


@pytest.mark.parametrize("scale", SCALES)
def test_one_model_per_scale_and_seed_learns_from_every_city(results: Path, scale: int):
    pooled = pd.read_parquet(results / "pooled" / f"{scale}px" / "index.parquet")
    sizes = {c: len(pd.read_parquet(city_dir(results, c, scale) / "tiles" / "index.parquet"))
             for c in CITIES}  # fmt: skip
    assert pooled.groupby("city").size().to_dict() == sizes
    labels = {}
    for seed in SEEDS:
        model = results / "pooled" / f"{scale}px" / f"seed{seed}"
        assert (model / "deepcluster" / "model.pt").is_file()
        labels[seed] = pd.read_parquet(model / "clusters" / "city_labels.parquet")
        assert len(labels[seed]) == len(pooled)
    first, second = labels.values()
    assert not first["k4"].equals(second["k4"]), "two seeds gave the very same clustering"


@pytest.mark.parametrize("name", ["labels", "confidence"])
def test_a_citys_labels_and_confidence_are_its_rows_of_the_seeds_consensus(
    results: Path, name: str
):
    scale = SCALES[0]
    pooled = city_labels(
        results / "pooled" / f"{scale}px" / "consensus" / f"{name}.parquet",
        results / "pooled" / f"{scale}px" / "index.parquet",
    )
    for city in CITIES:
        mine = pd.read_parquet(city_dir(results, city, scale) / "clusters" / f"{name}.parquet")
        expected = pooled[pooled["city"] == city].drop(columns="city").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, expected)


@pytest.mark.parametrize("scale", SCALES)
def test_the_consensus_combines_both_seeds_and_says_how_far_they_agree(results: Path, scale: int):
    pooled = results / "pooled" / f"{scale}px"
    consensus = pd.read_parquet(pooled / "consensus" / "labels.parquet")
    confidence = pd.read_parquet(pooled / "consensus" / "confidence.parquet")
    seeds = [pd.read_parquet(pooled / f"seed{s}" / "clusters" / "labels.parquet") for s in SEEDS]
    assert list(consensus.columns) == list(confidence.columns) == ["tile_id", "k2", "k4"]
    for k in KS:
        column = f"k{k}"
        assert set(consensus[column]) <= set(range(k))
        # two seeds: each tile is agreed on by none, one or both of them
        assert set(confidence[column]) <= {0.0, 0.5, 1.0}
        expected = tile_confidence(consensus[column].to_numpy(), [s[column] for s in seeds])
        assert confidence[column].tolist() == expected.tolist()


@pytest.mark.parametrize("city", CITIES)
def test_the_geojson_shows_the_consensus_with_its_confidence(results: Path, city: str):
    folder = city_dir(results, city, SCALES[0])
    table = gpd.read_file(folder / "cluster_shapefile.geojson").set_index("tile_id")
    labels = pd.read_parquet(folder / "clusters" / "labels.parquet").set_index("tile_id")
    confidence = pd.read_parquet(folder / "clusters" / "confidence.parquet").set_index("tile_id")
    final_k = max(KS)  # clusters.final_k of the tiny config
    assert table["cluster"].tolist() == labels.loc[table.index, f"k{final_k}"].tolist()
    assert table["label_k2"].tolist() == labels.loc[table.index, "k2"].tolist()
    assert table["cluster_confidence"].tolist() == confidence.loc[table.index, "k4"].tolist()
    assert (folder / "figures" / "cluster_confidence.png").is_file()


def test_comparison_tables_have_their_columns_and_rows(results: Path):
    comparison = results / "comparison"
    seeds = pd.read_csv(comparison / "seed_agreement.csv")
    assert list(seeds.columns) == ["scale", "k", "seed_a", "seed_b", "nmi", "ari"]
    assert len(seeds) == len(SCALES) * len(KS)  # one pair of seeds
    assert seeds["nmi"].between(0, 1).all()
    scales = pd.read_csv(comparison / "scale_agreement.csv")
    assert list(scales.columns) == ["city", "k", "fine", "coarse", "nmi", "ari"]
    assert set(scales["city"]) == set(CITIES) and len(scales) == len(CITIES) * len(KS)
    assert (scales["fine"] == SCALES[0]).all() and (scales["coarse"] == SCALES[1]).all()
    shares = pd.read_csv(comparison / "city_shares.csv")
    assert list(shares.columns) == ["scale", "seed", "k", "city", "cluster", "share"]
    sums = shares.groupby(["scale", "seed", "k", "city"])["share"].sum()
    assert len(sums) == len(SCALES) * len(SEEDS) * len(KS) * len(CITIES)
    assert ((sums - 1).abs() < 1e-5).all()  # written with 6 significant digits
    stability = pd.read_csv(comparison / "cluster_stability.csv")
    assert list(stability.columns) == [
        "scale", "clustering", "k", "cluster", "n_tiles", "seed_stability", "scale_stability",
        "mean_confidence",
    ]  # fmt: skip
    clusterings = stability.groupby("clustering").size().to_dict()
    assert clusterings == {
        f"seed{SEEDS[0]}": len(SCALES) * sum(KS),
        "consensus": len(SCALES) * sum(KS),
    }
    filled = stability[stability["n_tiles"] > 0]
    assert filled["seed_stability"].between(0, 1).all()
    assert filled["scale_stability"].between(0, 1).all()
    consensus = filled[filled["clustering"] == "consensus"]
    assert consensus["mean_confidence"].between(0, 1).all()
    assert filled.loc[filled["clustering"] != "consensus", "mean_confidence"].isna().all()


def test_comparison_figures(results: Path):
    figures = results / "comparison" / "figures"
    names = [f"city_shares_{s}px" for s in SCALES] + ["seed_agreement"]
    names += [f"scale_sankey_{city}" for city in CITIES]
    for name in names:
        for ext in ("png", "pdf"):
            assert (figures / f"{name}.{ext}").is_file(), f"{name}.{ext}"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"tiles": {"size_px": [32, 48]}}, "tiles.size_px"),
        ({"deepcluster": {"seeds": []}}, "deepcluster.seeds"),
        ({"cities": {"lagos": {}}}, "cities.lagos"),
        ({"cities": {"lagos": {"crs": "EPSG:4326", "demo": {}}}}, "cities.lagos.crs"),
        ({"cities": {"Lagos": {"demo": {}}, "lagos": {"demo": {}}}}, "Lagos"),
    ],
)
def test_a_bad_study_stops_before_anything_runs(workflow_dir: WorkflowDir, overrides, key):
    workflow_dir.update_config(overrides)
    result = workflow_dir.snakemake("--dry-run", check=False)
    assert result.returncode != 0
    assert key in result.stdout + result.stderr
    assert not (workflow_dir.path / "results").exists()
    assert not (workflow_dir.path / "resources").exists()


def test_a_city_named_twice_in_the_config_file_stops(workflow_dir: WorkflowDir):
    text = workflow_dir.config_file.read_text()
    workflow_dir.config_file.write_text(
        text + "cities:\n  accra:\n    demo: {}\n  accra:\n    demo: {seed: 3}\n"
    )
    result = workflow_dir.snakemake("--dry-run", check=False)
    assert result.returncode != 0
    assert "'accra' appears twice" in result.stdout + result.stderr
