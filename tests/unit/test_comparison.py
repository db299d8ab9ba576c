"""Comparisons within a study (seeds, scales, cities) on hand-made tables, and their figures."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from PIL import Image

from satcluster.errors import InputError
from satcluster.figures import city_shares as city_shares_figure
from satcluster.figures import scale_sankey
from satcluster.figures import seed_agreement as seed_agreement_figure
from satcluster.figures.palette import cluster_colors
from satcluster.study import comparison
from satcluster.study.comparison import (
    city_shares,
    coarse_labels_of_fine_tiles,
    scale_agreement,
    scale_flows,
    seed_agreement,
    write_csv,
)
from satcluster.study.stability import Scale, best_match_jaccard, cluster_stability

mpl.use("Agg")


def labels(city, tile_ids, **by_k) -> pd.DataFrame:
    """A labels table: city, tile_id, then k columns (``k2=[...]``)."""
    return pd.DataFrame({"city": city, "tile_id": tile_ids, **by_k})


def index(tile_ids, rows, cols) -> pd.DataFrame:
    """The columns of a tile index that the comparisons read."""
    return pd.DataFrame({"tile_id": tile_ids, "row": rows, "col": cols})


def outputs(tmp_path, name):
    return [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]


def assert_drawn(paths) -> None:
    png, pdf = paths
    assert pdf.stat().st_size > 0
    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(float)
    assert pixels.std(axis=0).max() > 20, f"{png} looks blank"


# --- seeds ---------------------------------------------------------------------------------
def two_cities(k2, k4) -> pd.DataFrame:
    """Two cities with the same tile ids 0..2 (labels in the order a0 a1 a2 b0 b1 b2)."""
    return labels(["a"] * 3 + ["b"] * 3, [0, 1, 2] * 2, k2=k2, k4=k4)


def test_identical_and_permuted_seeds_agree_fully_on_every_pair_and_k():
    seed0 = two_cities([0, 0, 1, 1, 1, 0], [0, 1, 2, 3, 3, 0])
    seed1 = two_cities([1, 1, 0, 0, 0, 1], [3, 2, 1, 0, 0, 3])  # ids permuted
    seed2 = seed0.iloc[::-1].reset_index(drop=True)  # same labels, rows in another order
    table = seed_agreement({7: seed0, 3: seed1, 5: seed2}, [4, 2])
    assert list(table.columns) == ["k", "seed_a", "seed_b", "nmi", "ari"]
    assert table["k"].tolist() == [2, 2, 2, 4, 4, 4]
    assert list(zip(table["seed_a"], table["seed_b"], strict=True)) == [(7, 3), (7, 5), (3, 5)] * 2
    assert np.allclose(table[["nmi", "ari"]], 1.0)


def test_seed_agreement_joins_on_city_and_tile_and_matches_a_hand_value():
    seed0 = two_cities([0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 1, 0])
    # the same tiles, city b's rows first: a join on tile_id alone would mix the cities
    seed1 = labels(
        ["b"] * 3 + ["a"] * 3, [0, 1, 2] * 2, k2=[1, 1, 0, 0, 0, 1], k4=[0, 1, 0, 0, 1, 1]
    )
    table = seed_agreement({0: seed0, 1: seed1}, [2, 4]).set_index("k")
    assert table.loc[2, "nmi"] == pytest.approx(1.0)  # k2 is the same labelling
    # k4 over (a0 a1 a2 b0 b1 b2): seed0 0 0 1 1 1 0, seed1 0 1 1 0 1 0; contingency
    # [[2, 1], [1, 2]]: sum C(n_ij, 2) = 2, rows and columns 3 + 3 -> 6, expected 36/15 = 2.4
    assert table.loc[4, "ari"] == pytest.approx((2 - 2.4) / (6 - 2.4))


def test_seed_agreement_with_one_seed_is_empty_and_mismatched_tiles_raise():
    seed0 = two_cities([0, 0, 1, 1, 1, 0], [0, 1, 2, 3, 3, 0])
    empty = seed_agreement({0: seed0}, [2])
    assert empty.empty and list(empty.columns) == ["k", "seed_a", "seed_b", "nmi", "ari"]
    fewer = seed0.iloc[1:]
    with pytest.raises(InputError, match="seed 0 .* seed 1 .*same"):
        seed_agreement({0: seed0, 1: fewer}, [2])
    other_city = seed0.assign(city=seed0["city"].replace({"b": "c"}))
    with pytest.raises(InputError, match="same"):
        seed_agreement({0: seed0, 1: other_city}, [2])


# --- scales --------------------------------------------------------------------------------
# Ratio 2, negative rows and cols. Fine tile -> coarse cell (row // 2, col // 2):
# 0 (-2,-1) -> (-1,-1) = 10;  1 (-1,-1) -> 10;  2 (-1, 0) -> (-1, 0) = 11;
# 3 (0,-1) -> (0,-1) = 12;  4 (1,-2) -> (0,-1) = 12;  5 (1, 0) and 6 (0, 1) -> (0, 0): missing.
FINE = index([0, 1, 2, 3, 4, 5, 6], [-2, -1, -1, 0, 1, 1, 0], [-1, -1, 0, -1, -2, 0, 1])
COARSE = index([10, 11, 12], [-1, -1, 0], [-1, 0, -1])
COARSE_LABELS = labels("a", [10, 11, 12], k2=[0, 1, 1], k4=[3, 2, 0])


def test_coarse_labels_follow_floor_division_and_skip_missing_coarse_tiles():
    carried = coarse_labels_of_fine_tiles(FINE, COARSE, COARSE_LABELS, 2, [4, 2])
    assert list(carried.columns) == ["tile_id", "k2", "k4"]
    assert carried["tile_id"].tolist() == [0, 1, 2, 3, 4]
    assert carried["k2"].tolist() == [0, 0, 1, 1, 1]
    assert carried["k4"].tolist() == [3, 3, 2, 0, 0]


def test_scale_agreement_of_carried_labels_is_one_and_picks_the_city():
    fine_a = labels("a", FINE["tile_id"], k2=[1, 1, 0, 0, 0, 1, 0], k4=[0, 0, 1, 2, 2, 3, 3])
    fine_b = fine_a.assign(city="b", k2=[0, 1, 0, 1, 0, 1, 0])  # same tile ids, other city
    pooled = pd.concat([fine_b, fine_a], ignore_index=True)
    coarse = pd.concat([COARSE_LABELS, COARSE_LABELS.assign(city="b")], ignore_index=True)
    table = scale_agreement(FINE, pooled, COARSE, coarse, 2, [2, 4], city="a")
    assert list(table.columns) == ["k", "nmi", "ari", "n_tiles"]
    assert table["k"].tolist() == [2, 4]
    assert table["n_tiles"].tolist() == [5, 5]
    assert np.allclose(table[["nmi", "ari"]], 1.0)
    with pytest.raises(InputError, match="several cities"):
        scale_agreement(FINE, pooled, COARSE, coarse, 2, [2])


def test_labels_that_do_not_match_the_tile_index_raise():
    fine = labels("a", FINE["tile_id"], k2=[0] * 7)
    with pytest.raises(InputError, match="coarse labels .* same tile ids"):
        scale_agreement(FINE, fine, COARSE, COARSE_LABELS.iloc[:2], 2, [2])
    with pytest.raises(InputError, match="fine labels .* same tile ids"):
        scale_agreement(FINE, fine.iloc[1:], COARSE, COARSE_LABELS, 2, [2])
    with pytest.raises(InputError, match="k4"):
        scale_agreement(FINE, fine, COARSE, COARSE_LABELS, 2, [4])


def test_scale_flows_count_fine_tiles_by_fine_and_coarse_cluster():
    fine = labels("a", FINE["tile_id"], k2=[1, 0, 0, 0, 0, 1, 1])
    flows = scale_flows(FINE, fine, COARSE, COARSE_LABELS, 2, 2)
    assert list(flows.columns) == ["fine", "coarse", "n_tiles"]
    # carried k2 of tiles 0..4: 0 0 1 1 1; fine 1 0 0 0 0
    assert flows.values.tolist() == [[0, 0, 1], [0, 1, 3], [1, 0, 1]]


# --- cities --------------------------------------------------------------------------------
def test_city_shares_sum_to_one_and_list_empty_clusters():
    table = city_shares(
        labels(
            ["b", "a", "a", "a", "a", "b"], range(6), k2=[1, 0, 0, 0, 1, 1], k4=[3, 0, 0, 1, 1, 3]
        ),
        [4, 2],
    )
    assert list(table.columns) == ["k", "city", "cluster", "share"]
    assert len(table) == 2 * 2 + 2 * 4
    k2 = table[table["k"] == 2]
    assert k2["city"].tolist() == ["a", "a", "b", "b"]
    assert k2["share"].tolist() == [0.75, 0.25, 0.0, 1.0]
    k4 = table[table["k"] == 4].set_index(["city", "cluster"])["share"]
    assert k4["a"].tolist() == [0.5, 0.5, 0.0, 0.0]
    assert k4["b"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert np.allclose(table.groupby(["k", "city"])["share"].sum(), 1.0)
    with pytest.raises(InputError, match="k is 2"):
        city_shares(labels("a", [0, 1], k2=[0, 2]), [2])


# --- cluster stability ---------------------------------------------------------------------
def test_best_match_jaccard_by_hand():
    ref = np.array([0, 0, 0, 0, 1, 1])
    assert np.allclose(best_match_jaccard(ref, ref), 1.0)
    assert np.allclose(best_match_jaccard(ref, 5 - ref), 1.0)  # permuted ids
    # cluster 0 split in two halves: best half 2 / 4; cluster 1 kept whole
    assert np.allclose(best_match_jaccard(ref, np.array([0, 0, 1, 1, 2, 2])), [0.5, 1.0])
    # merged with cluster 1: |A| / |A u B| = 4 / 6 and 2 / 6
    assert np.allclose(best_match_jaccard(ref, np.zeros(6)), [4 / 6, 2 / 6])
    with_empty = best_match_jaccard(ref, ref, n_clusters=3)
    assert np.allclose(with_empty[:2], 1.0) and np.isnan(with_empty[2])
    assert np.isnan(best_match_jaccard(np.array([], int), np.array([]), 2)).all()


# Fine scale (256 px): city a rows 0..1 x cols 0..3 (8 tiles), city b rows 0..1 x cols 0..1
# (4 tiles). Coarse (512 px): a holds (0,0), (0,1), b holds (0,0).
def grid(rows, cols) -> pd.DataFrame:
    r, c = np.divmod(np.arange(rows * cols), cols)
    return index(np.arange(rows * cols), r, c)


FINE_INDEXES = {"a": grid(2, 4), "b": grid(2, 2)}
COARSE_INDEXES = {"a": grid(1, 2), "b": grid(1, 1)}
# reference fine labels (k = 3, cluster 2 empty): a's left coarse cell 0, right cell 1; b all 1
A_FINE = [0, 0, 1, 1, 0, 0, 1, 1]
FINE_REF = pd.concat(
    [labels("a", range(8), k3=A_FINE), labels("b", range(4), k3=[1] * 4)], ignore_index=True
)
# coarse labels: a's left cell 1, right cell 0; b's cell 1
COARSE_REF = pd.concat(
    [labels("a", [0, 1], k3=[1, 0]), labels("b", [0], k3=[1])], ignore_index=True
)


def test_cluster_stability_across_seeds_and_pooled_cities_at_the_fine_scale():
    permuted = FINE_REF.assign(k3=2 - FINE_REF["k3"])
    split = FINE_REF.assign(k3=[0, 0, 2, 2, 0, 0, 2, 2, 1, 1, 1, 1])  # cluster 1: a | b
    fine = Scale(256, FINE_REF, FINE_INDEXES)
    coarse = Scale(512, COARSE_REF, COARSE_INDEXES)
    table = cluster_stability(fine, [permuted, split.iloc[::-1]], [coarse], [3])
    assert list(table.columns) == ["k", "cluster", "n_tiles", "seed_stability", "scale_stability"]
    assert table["cluster"].tolist() == [0, 1, 2]
    assert table["n_tiles"].tolist() == [4, 8, 0]
    # seeds: cluster 0 kept by both (1, 1); cluster 1 kept (1) and split in halves (0.5)
    assert np.allclose(table["seed_stability"][:2], [1.0, 0.75])
    # pooled fine tiles: fine 0 = 4 a-tiles, all under coarse 1 (8 tiles: 4 a + 4 b) -> 4/8;
    # fine 1 = 8 tiles, best with coarse 0 (4 a-tiles) -> 4/8 (coarse 1: 4/12)
    assert np.allclose(table["scale_stability"][:2], [0.5, 0.5])
    assert table.iloc[2][["seed_stability", "scale_stability"]].isna().all()


def test_cluster_stability_of_the_coarse_scale_carries_its_labels_down():
    fine = Scale(256, FINE_REF, FINE_INDEXES)
    coarse = Scale(512, COARSE_REF, COARSE_INDEXES)
    table = cluster_stability(coarse, [], [fine], [3])
    assert table["n_tiles"].tolist() == [1, 2, 0]
    assert table["seed_stability"].isna().all()
    # on fine tiles: coarse 0 = 4 a-tiles vs fine 1 (8) -> 4/8; coarse 1 = 8 vs fine 0 -> 4/8
    assert np.allclose(table["scale_stability"][:2], [0.5, 0.5])
    alone = cluster_stability(Scale(256, FINE_REF, {}), [], [], [3])
    assert alone[["seed_stability", "scale_stability"]].isna().all().all()


def test_cluster_stability_rejects_scales_that_do_not_nest_or_lack_a_city():
    fine = Scale(256, FINE_REF, FINE_INDEXES)
    with pytest.raises(InputError, match="do not nest"):
        cluster_stability(fine, [], [Scale(384, COARSE_REF, COARSE_INDEXES)], [3])
    with pytest.raises(InputError, match="no tile index of 'b'"):
        cluster_stability(fine, [], [Scale(512, COARSE_REF, {"a": COARSE_INDEXES["a"]})], [3])
    with pytest.raises(InputError, match="same"):
        cluster_stability(fine, [FINE_REF.iloc[1:]], [], [3])


def test_write_csv_is_atomic_and_round_trips(tmp_path):
    table = pd.DataFrame({"k": [2, 4], "nmi": [1 / 3, np.nan]})
    write_csv(table, tmp_path / "sub" / "t.csv")
    assert (tmp_path / "sub" / "t.csv").read_text() == "k,nmi\n2,0.333333\n4,\n"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["t.csv"]


# --- figures -------------------------------------------------------------------------------
def shares_csv(path):
    shares = city_shares(
        labels(
            ["a", "a", "a", "b", "c", "c"], range(6), k2=[0, 0, 1, 1, 0, 1], k4=[0, 1, 2, 2, 3, 3]
        ),
        [2, 4],
    )
    table = pd.concat(
        [shares.assign(scale=256, seed=0), shares.assign(scale=512, seed=1)], ignore_index=True
    )
    write_csv(table[city_shares_figure.COLUMNS], path)
    return path


def test_city_shares_figure_stacks_one_bar_per_city(tmp_path):
    path = shares_csv(tmp_path / "city_shares.csv")
    city_shares_figure.draw_city_shares(path, outputs(tmp_path, "c"), 4, 512, 1, "tab10", 80)
    assert_drawn(outputs(tmp_path, "c"))
    table = pd.read_csv(path)
    rows = city_shares_figure.select_shares(table, 2, "256", "0", "t")
    fig = city_shares_figure.plot_city_shares(rows, 2, cluster_colors(2), "t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    widths = [p.get_width() for p in ax.patches]  # cluster 0 bars, then cluster 1
    assert widths == pytest.approx([200 / 3, 0, 50, 100 / 3, 100, 50], rel=1e-5)  # csv: %.6g
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["0", "1"]
    for k, scale, seed in [(8, 256, 0), (2, 1024, 0), (2, 256, 1)]:
        with pytest.raises(InputError, match=f"scale {scale}, seed {seed}, k = {k}"):
            city_shares_figure.draw_city_shares(
                path, outputs(tmp_path, "bad"), k, scale, seed, "tab10", 80
            )


def seed_table() -> pd.DataFrame:
    """Scale 256 with three seeds (three pairs), scale 512 with two (one pair)."""
    rows = [
        (256, k, a, b, 0.5 + 0.1 * i, 0.4 + 0.1 * i)
        for k in (2, 4)
        for i, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)])
    ]
    rows += [(512, k, 0, 1, 0.9, 0.8) for k in (2, 4)]
    return pd.DataFrame(rows, columns=seed_agreement_figure.COLUMNS)


def test_seed_agreement_figure_has_a_line_per_scale_and_a_band_for_three_seeds(tmp_path):
    summary = seed_agreement_figure.summarise(seed_table())
    assert summary["pairs"].tolist() == [3, 3, 1, 1]
    assert np.allclose(summary["nmi_mean"], [0.6, 0.6, 0.9, 0.9])
    fig = seed_agreement_figure.plot_seed_agreement(seed_table())
    for ax in fig.axes:
        assert [line.get_label() for line in ax.get_lines()] == ["256", "512"]
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 1
    write_csv(seed_table(), tmp_path / "seed_agreement.csv")
    seed_agreement_figure.draw_seed_agreement(
        tmp_path / "seed_agreement.csv", outputs(tmp_path, "s"), 80
    )
    assert_drawn(outputs(tmp_path, "s"))
    empty = seed_agreement_figure.plot_seed_agreement(seed_table().iloc[:0])
    assert "at least two seeds" in empty.axes[0].texts[0].get_text()
    seed_table().drop(columns="ari").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match="ari"):
        seed_agreement_figure.draw_seed_agreement(tmp_path / "bad.csv", outputs(tmp_path, "b"), 80)


def test_scale_sankey_colours_coarse_nodes_by_their_main_fine_cluster(tmp_path):
    fine = labels("a", FINE["tile_id"], k2=[1, 0, 0, 0, 0, 1, 1])
    flows = scale_flows(FINE, fine, COARSE, COARSE_LABELS, 2, 2)
    colors = scale_sankey.node_colors(flows, ["red", "blue"])
    assert colors == {"fine:0": "red", "fine:1": "blue", "coarse:0": "red", "coarse:1": "red"}
    data = scale_sankey.sankey_data(flows)
    assert data["node_coarse"].tolist() == ["coarse:0", "coarse:1", "coarse:0"]
    scale_sankey.draw_scale_sankey(
        flows, outputs(tmp_path, "k"), "256 px", "512 px", 2, "tab10", 80
    )
    assert_drawn(outputs(tmp_path, "k"))
    fig = scale_sankey.plot_scale_sankey(flows, "256 px", "512 px", 2, cluster_colors(2))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["256 px", "512 px"]
    with pytest.raises(InputError, match="column coarse"):
        scale_sankey.draw_scale_sankey(
            flows.assign(coarse=flows["coarse"] + 1),
            outputs(tmp_path, "b"),
            "f",
            "c",
            2,
            "tab10",
            80,
        )
    with pytest.raises(InputError, match="n_tiles"):
        scale_sankey.plot_scale_sankey(flows.drop(columns="n_tiles"), "f", "c", 2, ["r", "b"])


def test_comparison_module_exports_what_it_defines():
    assert all(hasattr(comparison, name) for name in comparison.__all__)
