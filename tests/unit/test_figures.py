"""The figures: each is drawn from small synthetic inputs in the workflow's formats, is not
blank, has one panel/entry per cluster, and uses the one colour per cluster."""

from __future__ import annotations

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.colors import to_hex
from PIL import Image

from satcluster.demo.evaluate_phenotypes import truth_per_tile
from satcluster.errors import InputError
from satcluster.figures import (
    centroid_distances,
    cluster_map,
    cluster_sankey,
    cluster_shares,
    covariate_distributions,
    covariate_radar,
    embedding_pca,
    example_tiles,
    phenotype_contingency,
    training_curves,
)
from satcluster.figures.common import cluster_names
from satcluster.figures.palette import cluster_colors
from tests.harness.figure_inputs import (
    FINAL_K,
    KS,
    NAMES,
    SIDE,
    TILE_M,
    WATER,
    make_cluster_table,
)

mpl.use("Agg")

TILE_PX = 8


def make_tiles(path, table: gpd.GeoDataFrame) -> None:
    """tiles.npy: every tile filled with a grey level that depends on its cluster."""
    n = len(table)
    tiles = np.zeros((n, TILE_PX, TILE_PX, 3), dtype=np.uint8)
    tiles[table["tile_id"].to_numpy()] = (40 + 60 * table["cluster"].to_numpy())[
        :, None, None, None
    ]
    np.save(path, tiles)


def make_embedding(path, table: gpd.GeoDataFrame, dim: int = 6) -> np.ndarray:
    """embedding.npy: cluster c sits near unit vector e_c (rows = tile_id)."""
    rng = np.random.default_rng(2)
    embedding = np.zeros((len(table), dim), dtype=np.float32)
    ids = table["tile_id"].to_numpy()
    embedding[ids, table["cluster"].to_numpy()] = 1.0
    embedding[ids] += rng.normal(0, 0.05, (len(ids), dim)).astype(np.float32)
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    np.save(path, embedding)
    return embedding


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("figure_inputs")
    table = make_cluster_table(root / "cluster_shapefile.parquet")
    make_tiles(root / "tiles.npy", table)
    make_embedding(root / "embedding.npy", table)
    pd.DataFrame(
        {
            "epoch": range(5),
            "clustering_loss": [5, 4, 3.5, 3.2, 3.1],
            "convnet_loss": [2.5, 2.0, 1.6, 1.4, 1.3],
            "nmi_prev": [np.nan, 0.5, 0.7, 0.8, 0.85],
            "cluster_balance": [0.5, 0.6, 0.7, 0.7, 0.75],
            "seconds": [3, 3, 3, 3, 3],
            "lr": 0.01,
        }
    ).to_csv(root / "training_log.csv", index=False)
    # Planted districts: the four quadrants, with phenotype ids not equal to the cluster ids.
    half = SIDE // 2 * TILE_M
    x0, y0 = 810_000.0, 620_000.0
    quadrants = [
        shapely.box(x0 + c * half, y0 - (r + 1) * half, x0 + (c + 1) * half, y0 - r * half)
        for r in (0, 1)
        for c in (0, 1)
    ]
    gpd.GeoDataFrame(
        {
            "phenotype": [3, 1, 6, 7],
            "phenotype_name": ["light veg.", "dense", "water", "dark veg."],
        },
        geometry=quadrants,
        crs="EPSG:32630",
    ).to_crs("EPSG:4326").to_file(root / "truth.gpkg")
    return root


def png_pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)


def assert_not_blank(path) -> None:
    pixels = png_pixels(path).astype(float)
    assert pixels.std(axis=0).max() > 20, f"{path} looks blank"


def color_pixels(path, color: str, tol: int = 6) -> int:
    """Pixels of the PNG within ``tol`` of ``color`` on every channel."""
    rgb = np.array(mpl.colors.to_rgb(color)) * 255
    return int((np.abs(png_pixels(path).astype(float) - rgb) <= tol).all(axis=1).sum())


def outputs(tmp_path, name):
    return [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]


# --- palette -------------------------------------------------------------------------------
def test_palette_gives_tab10_in_order_and_distinct_colours_beyond_ten():
    assert cluster_colors(3) == ["#1f77b4", "#ff7f0e", "#2ca02c"]
    twelve = cluster_colors(12)
    assert twelve[:10] == cluster_colors(10)  # more clusters never recolour the first ones
    assert twelve[10:] == ["#aec7e8", "#ffbb78"]  # tab20's light twins of tab10 0 and 1
    assert len(set(cluster_colors(30))) == 30


def test_palette_samples_continuous_colormaps_and_rejects_unknown_names():
    viridis = cluster_colors(2, "viridis")
    assert viridis == [to_hex(mpl.colormaps["viridis"](0.0)), to_hex(mpl.colormaps["viridis"](1.0))]
    with pytest.raises(InputError, match="figures.palette"):
        cluster_colors(3, "no-such-palette")


def test_cluster_names_fill_empty_clusters(inputs):
    table = pd.read_parquet(
        inputs / "cluster_shapefile.parquet", columns=["cluster", "cluster_name"]
    )
    assert cluster_names(table, 5) == [*NAMES, "cluster 4"]


# --- every figure --------------------------------------------------------------------------
def test_map_has_one_legend_entry_per_cluster_with_its_share_and_colour(inputs, tmp_path):
    table = gpd.read_parquet(inputs / "cluster_shapefile.parquet")
    colors = cluster_colors(FINAL_K)
    fig = cluster_map.plot_cluster_map(table.geometry, table["cluster"].to_numpy(), NAMES, colors)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == [f"{i} · {name} (25%)" for i, name in enumerate(NAMES)]
    cluster_map.draw_cluster_map(
        inputs / "cluster_shapefile.parquet", outputs(tmp_path, "map"), FINAL_K, "tab10", 80
    )
    assert_not_blank(tmp_path / "map.png")
    assert (tmp_path / "map.pdf").stat().st_size > 1000
    # each quadrant is a quarter of the map: every cluster's colour covers many pixels
    for color in colors:
        assert color_pixels(tmp_path / "map.png", color) > 2000


def test_nice_scale_bar_lengths():
    assert cluster_map.nice_length(1536) == 200
    assert cluster_map.nice_length(30_000) == 5000
    assert cluster_map.nice_length(90) == 20


def test_example_tiles_sample_is_deterministic_and_capped():
    ids = np.arange(100)[::-1]
    labels = np.arange(100) % 3
    first = example_tiles.sample_examples(ids, labels, 4, per_cluster=5)
    assert [len(s) for s in first] == [5, 5, 5, 0]
    again = example_tiles.sample_examples(ids[::-1].copy(), labels[::-1].copy(), 4, per_cluster=5)
    assert all((a == b).all() for a, b in zip(first, again, strict=True))
    assert all(set(s) <= set(ids[labels == c]) for c, s in enumerate(first[:3]))


def test_tile_mosaic_places_tiles_in_rows_with_white_gaps():
    tiles = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (10, 20, 30)])
    mosaic = example_tiles.tile_mosaic(tiles, np.array([0, 2]), cols=2, gap_px=1)
    assert mosaic.shape == (4, 9, 3)
    assert (
        (mosaic[:, :4] == 10).all() and (mosaic[:, 4] == 255).all() and (mosaic[:, 5:] == 30).all()
    )


def test_example_tiles_draws_one_framed_panel_per_cluster(inputs, tmp_path):
    example_tiles.draw_example_tiles(
        inputs / "cluster_shapefile.parquet",
        inputs / "tiles.npy",
        outputs(tmp_path, "ex"),
        FINAL_K,
        3,
        "tab10",
        80,
    )
    assert_not_blank(tmp_path / "ex.png")
    for c, color in enumerate(cluster_colors(FINAL_K)):
        assert color_pixels(tmp_path / "ex.png", color) > 200  # the panel frame
        grey = f"#{40 + 60 * c:02x}{40 + 60 * c:02x}{40 + 60 * c:02x}"
        assert color_pixels(tmp_path / "ex.png", grey, tol=2) > 100  # the cluster's own tiles


def test_radar_medians_by_hand_and_orientation_na_without_buildings():
    covariates = pd.DataFrame(
        {
            "building_count": [0, 0, 3, 5],
            # 10: a stray value on a tile without buildings
            "building_orientation_deg": [10.0, np.nan, 20.0, 40.0],
            "ndvi_mean": [0.5, 0.6, 0.1, 0.2],
        }
    )
    medians = covariate_radar.quantile_medians(covariates, np.array([0, 0, 1, 1]), 3)
    # ranks of building_count [0,0,3,5]: 1.5,1.5,3,4 -> /4
    assert medians["building_count"].tolist()[:2] == [0.375, 0.875]
    assert np.isnan(medians.loc[0, "building_orientation_deg"])  # cluster 0 has no buildings
    assert medians.loc[1, "building_orientation_deg"] == 0.75  # ranks 1,2 of 2 -> 0.5,1
    assert medians.loc[1, "ndvi_mean"] == 0.375
    assert medians.loc[2].isna().all()  # an empty cluster


def test_radar_has_one_polar_panel_per_cluster_and_marks_na(inputs, tmp_path):
    table = pd.read_parquet(inputs / "cluster_shapefile.parquet")
    variables = ["building_count", "building_orientation_deg", "ndvi_mean"]
    medians = covariate_radar.quantile_medians(
        table[variables], table["cluster"].to_numpy(), FINAL_K
    )
    fig = covariate_radar.plot_covariate_radar(medians, NAMES, cluster_colors(FINAL_K), [0.25] * 4)
    polar = [ax for ax in fig.axes if ax.name == "polar"]
    assert len(polar) == FINAL_K
    assert [t.get_text() for t in polar[WATER].texts] == ["N.A."]
    assert all(not ax.texts for i, ax in enumerate(polar) if i != WATER)
    bars = [ax.patches[0].get_facecolor() for ax in polar]
    assert [to_hex(c) for c in bars] == cluster_colors(FINAL_K)
    covariate_radar.draw_covariate_radar(
        inputs / "cluster_shapefile.parquet", outputs(tmp_path, "radar"), FINAL_K, "tab10", 80
    )
    assert_not_blank(tmp_path / "radar.png")


def test_radar_without_any_covariate_says_what_to_configure(tmp_path):
    make_cluster_table(tmp_path / "bare.parquet", covariates=False)
    with pytest.raises(InputError, match="covariate source"):
        covariate_radar.draw_covariate_radar(
            tmp_path / "bare.parquet", outputs(tmp_path, "r"), FINAL_K, "tab10", 80
        )


def test_sankey_flow_table_counts_paths():
    labels = pd.DataFrame({"label_k2": [0, 0, 1, 1, 1], "label_k4": [0, 1, 2, 2, 3]})
    table = cluster_sankey.flow_table(labels, [2, 4])
    assert table["node_k2"].tolist() == ["k2:0", "k2:0", "k2:1", "k2:1"]
    assert table["node_k4"].tolist() == ["k4:0", "k4:1", "k4:2", "k4:3"]
    assert table["tiles_k2"].tolist() == [1, 1, 2, 1]
    colors = cluster_sankey.node_colors(labels, [2, 4], 4, ["a", "b", "c", "d"])
    assert colors == {"k2:0": "a", "k2:1": "c", "k4:0": "a", "k4:1": "b", "k4:2": "c", "k4:3": "d"}


def test_sankey_has_one_column_per_k(inputs, tmp_path):
    table = pd.read_parquet(inputs / "cluster_shapefile.parquet")
    labels = table[[f"label_k{k}" for k in KS]]
    fig = cluster_sankey.plot_cluster_sankey(labels, KS, FINAL_K, NAMES, cluster_colors(FINAL_K))
    ax = fig.axes[0]
    assert len(ax.get_xticks()) == len(KS)
    titles = {t.get_text() for t in ax.texts}
    assert {"k = 2", "k = 4 (final)", "k = 6"} <= titles
    assert len(fig.legends[0].get_texts()) == FINAL_K
    cluster_sankey.draw_cluster_sankey(
        inputs / "cluster_shapefile.parquet", outputs(tmp_path, "s"), KS, FINAL_K, "tab10", 80
    )
    assert_not_blank(tmp_path / "s.png")
    for color in cluster_colors(FINAL_K):
        assert color_pixels(tmp_path / "s.png", color) > 50  # the final-k nodes


def test_sankey_rejects_labels_outside_k(tmp_path):
    table = make_cluster_table(tmp_path / "t.parquet", covariates=False)
    table["label_k2"] = table["label_k4"]  # ids 0..3 at k = 2: clustered with other ks
    table.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(InputError, match="label_k2"):
        cluster_sankey.draw_cluster_sankey(
            tmp_path / "t.parquet", outputs(tmp_path, "s"), KS, FINAL_K, "tab10", 80
        )


def test_pca_scatter_colours_points_by_cluster(inputs, tmp_path):
    embedding_pca.draw_embedding_pca(
        inputs / "cluster_shapefile.parquet",
        inputs / "embedding.npy",
        outputs(tmp_path, "pca"),
        FINAL_K,
        "tab10",
        80,
    )
    assert_not_blank(tmp_path / "pca.png")
    for color in cluster_colors(FINAL_K):
        assert color_pixels(tmp_path / "pca.png", color, tol=40) > 20


def test_centroid_distances_by_hand():
    embedding = np.array([[0, 0], [2, 0], [10, 0], [10, 4]], dtype=np.float32)
    between, within = centroid_distances.centroid_distances(embedding, np.array([0, 0, 1, 1]), 3)
    # centroids (1, 0) and (10, 2); cluster 2 is empty
    assert between[0, 1] == pytest.approx(np.hypot(9, 2))
    assert between[0, 0] == 0
    assert np.isnan(between[2]).all()
    assert within[:2].tolist() == [1.0, 2.0]
    assert np.isnan(within[2])


def test_centroid_distances_figure_has_heatmap_and_bars(inputs, tmp_path):
    centroid_distances.draw_centroid_distances(
        inputs / "cluster_shapefile.parquet",
        inputs / "embedding.npy",
        outputs(tmp_path, "cd"),
        FINAL_K,
        "tab10",
        80,
    )
    assert_not_blank(tmp_path / "cd.png")
    embedding = np.load(inputs / "embedding.npy")
    table = pd.read_parquet(inputs / "cluster_shapefile.parquet")
    rows = embedding[table["tile_id"]]
    between, within = centroid_distances.centroid_distances(
        rows, table["cluster"].to_numpy(), FINAL_K
    )
    fig = centroid_distances.plot_centroid_distances(
        between, within, NAMES, cluster_colors(FINAL_K)
    )
    heat, bars = fig.axes[:2]
    assert len(heat.images) == 1 and heat.images[0].get_array().shape == (FINAL_K, FINAL_K)
    assert [to_hex(p.get_facecolor()) for p in bars.patches] == cluster_colors(FINAL_K)
    assert between[0, 1] == pytest.approx(np.sqrt(2), abs=0.1)  # near-orthogonal unit vectors


def test_covariate_distributions_has_one_panel_per_covariate_and_box_per_cluster(inputs, tmp_path):
    covariate_distributions.draw_covariate_distributions(
        inputs / "cluster_shapefile.parquet", outputs(tmp_path, "cov"), FINAL_K, "tab10", 80
    )
    assert_not_blank(tmp_path / "cov.png")
    table = pd.read_parquet(inputs / "cluster_shapefile.parquet")
    variables = ["building_count", "ndvi_mean"]
    fig = covariate_distributions.plot_covariate_distributions(
        table[variables], table["cluster"].to_numpy(), NAMES, cluster_colors(FINAL_K)
    )
    assert len(fig.axes) == 2
    assert [to_hex(p.get_facecolor()) for p in fig.axes[0].patches] == cluster_colors(FINAL_K)


def test_training_curves_draw_the_known_columns(inputs, tmp_path):
    training_curves.draw_training_curves(inputs / "training_log.csv", outputs(tmp_path, "tc"), 80)
    assert_not_blank(tmp_path / "tc.png")
    log = training_curves.read_training_log(inputs / "training_log.csv")
    fig = training_curves.plot_training_curves(log)
    assert [ax.get_title() for ax in fig.axes] == list(training_curves.CURVES.values())
    (tmp_path / "bad.csv").write_text("step,loss\n0,1\n")
    with pytest.raises(InputError, match="epoch"):
        training_curves.read_training_log(tmp_path / "bad.csv")


def test_cluster_shares_bars(inputs, tmp_path):
    cluster_shares.draw_cluster_shares(
        inputs / "cluster_shapefile.parquet", outputs(tmp_path, "cs"), FINAL_K, "tab10", 80
    )
    assert_not_blank(tmp_path / "cs.png")
    fig = cluster_shares.plot_cluster_shares(
        np.array([0, 0, 0, 1]), ["a", "b", "c"], cluster_colors(3)
    )
    ax = fig.axes[0]
    assert [p.get_width() for p in ax.patches] == [75.0, 25.0, 0.0]
    assert [t.get_text() for t in ax.texts] == [" 75.0% (3)", " 25.0% (1)", " 0.0% (0)"]


def test_phenotype_contingency_matches_planted_quadrants(inputs, tmp_path):
    tiles = gpd.read_parquet(inputs / "cluster_shapefile.parquet")
    truth = gpd.read_file(inputs / "truth.gpkg")
    phenotypes = truth_per_tile(tiles.geometry, truth).to_numpy()
    expected = np.array([3, 1, 6, 7])[tiles["cluster"].to_numpy()]
    assert (phenotypes == expected).all()
    phenotype_contingency.draw_phenotype_contingency(
        inputs / "cluster_shapefile.parquet",
        inputs / "truth.gpkg",
        outputs(tmp_path, "pa"),
        FINAL_K,
        "tab10",
        80,
    )
    assert_not_blank(tmp_path / "pa.png")
    fig = phenotype_contingency.plot_phenotype_contingency(
        tiles["cluster"].to_numpy(),
        phenotypes,
        NAMES,
        cluster_colors(FINAL_K),
        phenotype_contingency.phenotype_names(truth),
    )
    assert fig.axes[0].get_title() == "Clusters vs planted phenotypes: NMI = 1.000, ARI = 1.000"
