"""The whole workflow on the tiny demo city, run by Snakemake in a temporary clone.

One run (the session fixture `tiny_run`: `snakemake --cores 2 --configfile tiny.yaml`)
and checks of every stage's output contract (ARCHITECTURE.md) on it.
"""

from __future__ import annotations

import csv
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml

from satcluster.config import validate_config
from satcluster.figures.common import COVARIATES
from tests.harness.web_map_checks import check_map
from tests.harness.workflow_dir import REPO, merge, rule_stages

pytestmark = pytest.mark.slow

COVARIATE_COLUMNS = {
    "buildings": [
        "building_area_m2",
        "building_count",
        "mean_building_size_m2",
        "building_orientation_deg",
    ],
    "roads": ["road_length_m", "major_road_length_m", "dist_road_m", "dist_major_road_m"],
    "population": ["population_density_km2", "population_coverage"],
    "ndvi": ["ndvi_mean", "ndvi_valid_fraction"],
}


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run.workdir


@pytest.fixture(scope="module")
def config(run) -> dict:
    return yaml.safe_load(run.config_file.read_text())


@pytest.fixture(scope="module")
def n_tiles(run) -> int:
    return len(np.load(run.path / "results/tiles/tiles.npy", mmap_mode="r"))


def test_tiles_and_index(run, config, n_tiles):
    tiles = np.load(run.path / "results/tiles/tiles.npy", mmap_mode="r")
    size = config["tiles"]["size_px"]
    assert tiles.dtype == np.uint8 and tiles.shape[1:] == (size, size, 3)
    # 384 m / 32 m = 12 x 12 cells; tiles over the nodata limit are dropped, most are kept.
    assert 100 <= n_tiles <= 144
    index = gpd.read_parquet(run.path / "results/tiles/index.parquet")
    assert index["tile_id"].tolist() == list(range(n_tiles))
    assert {"scene", "row", "col", "nodata_fraction"} <= set(index.columns)
    assert index.crs.to_epsg() == 32630
    assert not index.duplicated(["row", "col"]).any()  # overlapping scenes tiled once
    assert np.allclose(index.geometry.area, 32.0 * 32.0)


def test_deepcluster_outputs(run, config, n_tiles):
    folder = run.path / "results/deepcluster"
    assert (folder / "model.pt").stat().st_size > 0
    with open(folder / "training_log.csv") as log_file:
        rows = list(csv.DictReader(log_file))
    epochs = config["deepcluster"]["epochs"]
    assert [int(row["epoch"]) for row in rows] == list(range(1, epochs + 1))
    assert {"clustering_loss", "convnet_loss", "nmi_prev", "seconds"} <= set(rows[0])
    assignments = pd.read_parquet(folder / "assignments.parquet")
    assert assignments["tile_id"].tolist() == list(range(n_tiles))
    assert len([c for c in assignments.columns if c.startswith("epoch_")]) == epochs
    features = np.load(folder / "features.npy", mmap_mode="r")
    assert features.ndim == 2 and len(features) == n_tiles


def test_clusters_for_every_k(run, config, n_tiles):
    labels = pd.read_parquet(run.path / "results/clusters/labels.parquet")
    assert labels["tile_id"].tolist() == list(range(n_tiles))
    for k in config["clusters"]["ks"]:
        assert labels[f"k{k}"].between(0, k - 1).all()
    embedding = np.load(run.path / "results/clusters/embedding.npy")
    assert embedding.shape == (n_tiles, config["clusters"]["pca_dim"])
    assert np.allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-4)  # L2-normalised


def test_covariate_tables(run, n_tiles):
    for source, columns in COVARIATE_COLUMNS.items():
        table = pd.read_parquet(run.path / f"results/covariates/{source}.parquet")
        assert sorted(table["tile_id"]) == list(range(n_tiles)), source
        assert set(columns) <= set(table.columns), source
    # The per-chunk tables are temporary: removed once gathered.
    assert not list((run.path / "results/covariates").glob("chunks/*.parquet"))


def test_geojson_one_feature_per_tile_with_everything(run, config, n_tiles):
    frame = gpd.read_file(run.path / "results/cluster_shapefile.geojson")
    assert frame.crs.to_epsg() == 32630
    assert len(frame) == n_tiles and sorted(frame["tile_id"]) == list(range(n_tiles))
    final_k = config["clusters"]["final_k"]
    expected = {"tile_id", "scene", "row", "col", "cluster", "cluster_name"}
    expected |= {f"label_k{k}" for k in config["clusters"]["ks"]}
    expected |= {c for columns in COVARIATE_COLUMNS.values() for c in columns}
    assert expected <= set(frame.columns)
    assert frame["cluster"].between(0, final_k - 1).all()
    assert (frame["cluster"] == frame[f"label_k{final_k}"]).all()
    assert frame["cluster_name"].notna().all()
    twin = gpd.read_parquet(run.path / "results/cluster_shapefile.parquet")
    assert len(twin) == n_tiles and set(frame.columns) <= set(twin.columns)
    names = yaml.safe_load((run.path / "results/clusters/suggested_names.yaml").read_text())
    assert names  # one suggested name per cluster id, for the user to copy into config


def test_figures_and_map(run, config, n_tiles):
    figures = run.path / "results/figures"
    pngs = sorted(figures.glob("*.png"))
    assert pngs and all(p.stat().st_size > 0 for p in pngs)
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png.name
    html = (run.path / "results/map.html").read_text()
    assert "<html" in html.lower()
    # The map's content: a layer per k, the legend, popups naming every covariate (all
    # sources are configured in the demo), one feature per tile, thumbnails, offline.
    base = yaml.safe_load((run.path / "config/config.yaml").read_text())
    schema = run.path / "workflow/schemas/config.schema.yaml"
    settings = validate_config(merge(base, config), schema)  # what Snakemake ran with
    columns = {c for columns in COVARIATE_COLUMNS.values() for c in columns}
    check_map(
        html,
        settings["clusters"]["ks"],
        settings["clusters"]["final_k"],
        n_tiles=n_tiles,
        covariates=[label for c, (_, label) in COVARIATES.items() if c in columns],
        n_thumbnails=min(n_tiles, settings["figures"]["map_max_thumbnails"]),
        folder=run.path / "results" / "map_files",
    )


def test_every_job_recorded_its_cost_beside_its_log(run):
    """Snakemake's benchmark: one results/benchmarks/<log path>.tsv per job, naming its rule."""
    logs = sorted(p for p in (run.path / "logs").rglob("*.log"))
    assert logs
    for log in logs:
        relative = log.relative_to(run.path / "logs").with_suffix(".tsv")
        table = pd.read_csv(run.path / "results" / "benchmarks" / relative, sep="\t")
        assert len(table) == 1 and table["s"].iloc[0] >= 0, relative
        assert {"max_rss", "rule_name", "wildcards", "threads"} <= set(table.columns)
    rules = set(rule_stages(run.path / "workflow"))
    recorded = {
        pd.read_csv(path, sep="\t")["rule_name"].iloc[0]
        for path in (run.path / "results" / "benchmarks").rglob("*.tsv")
    }
    assert recorded <= rules and len(recorded) >= 20


def test_every_rule_that_logs_records_its_cost():
    """In the rule files: every rule with a log: has a benchmark: beside it."""
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^(?=\s*rule \w+:)", smk.read_text(), flags=re.MULTILINE):
            name = re.match(r"\s*rule (\w+):", block)
            if name and re.search(r"^\s+log:", block, re.MULTILINE):
                assert re.search(r"^\s+benchmark:", block, re.MULTILINE), name.group(1)


def test_every_job_wrote_its_log(run):
    logs = list((run.path / "logs").rglob("*.log"))
    stages = {p.relative_to(run.path / "logs").parts[0] for p in logs}
    expected = {"demo", "tiles", "deepcluster", "clusters", "covariates", "assemble", "figures"}
    assert expected <= stages
