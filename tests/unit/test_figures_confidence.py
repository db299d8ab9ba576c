"""Consensus confidence in the figures: the static map fades low-confidence tiles, the web map
carries each tile's confidence and fades by the same rule, the confidence figure's bars are the
per-cluster means; without ``cluster_confidence`` the maps are what they were. The web map's
fading in a real Chromium: tests/workflow/test_web_map_in_chromium.py."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from test_figures import assert_not_blank, outputs

from satcluster.columns import CLUSTER_CONFIDENCE
from satcluster.errors import InputError
from satcluster.figures import cluster_confidence, cluster_map
from satcluster.figures.common import save_figure
from satcluster.figures.palette import cluster_colors
from satcluster.figures.web_map import FADED_OPACITY
from satcluster.figures.web_map_data import popup_chunks
from tests.harness.figure_inputs import (
    FINAL_K,
    NAMES,
    SIDE,
    THRESHOLD,
    confidence_tables,
    expected_low,
    render_web_map,
)
from tests.harness.web_map_checks import read_map

COLUMN = CLUSTER_CONFIDENCE


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """(path without confidence, path with confidence) of two cluster GeoParquets."""
    return confidence_tables(tmp_path_factory.mktemp("confidence_inputs"))


# --- static map ----------------------------------------------------------------------------
def test_map_fades_exactly_the_tiles_below_the_threshold(tables):
    table = gpd.read_parquet(tables[1])
    confidence = table[COLUMN].to_numpy()
    colors = cluster_colors(FINAL_K)
    fig = cluster_map.plot_cluster_map(
        table.geometry, table["cluster"].to_numpy(), NAMES, colors, confidence, THRESHOLD
    )
    ax = fig.axes[0]
    facecolors = ax.collections[0].get_facecolors()
    low = expected_low(confidence)
    assert 0 < low.sum() < len(low)
    assert np.allclose(facecolors[:, 3], np.where(low, cluster_map.FADED_ALPHA, 1.0))
    own = mpl.colors.to_rgba_array([colors[c] for c in table["cluster"]])[:, :3]
    assert np.allclose(facecolors[:, :3], own)  # faded, still in its cluster's colour
    assert ax.get_xlabel() == f"faded: fewer than 75% of seeds agree ({low.mean():.0%} of tiles)"
    assert [t.get_text() for t in fig.legends[0].get_texts()][0] == "0 · dense buildings (25%)"


def test_map_draws_the_column_of_the_table_with_the_given_threshold(tables, tmp_path):
    cluster_map.draw_cluster_map(tables[1], outputs(tmp_path, "map"), FINAL_K, "tab10", 80, 0.5)
    assert_not_blank(tmp_path / "map.png")
    cluster_map.draw_cluster_map(tables[1], outputs(tmp_path, "all"), FINAL_K, "tab10", 80, 0.0)
    plain = tmp_path / "plain"
    cluster_map.draw_cluster_map(tables[0], outputs(plain, "map"), FINAL_K, "tab10", 80)
    # nothing faded, but the caption line: not the map of a table without the column
    assert (tmp_path / "all.png").read_bytes() != (plain / "map.png").read_bytes()
    assert (tmp_path / "map.png").read_bytes() != (tmp_path / "all.png").read_bytes()


def test_map_without_the_column_is_unchanged(tables, tmp_path):
    table = gpd.read_parquet(tables[0])
    colors = cluster_colors(FINAL_K)
    fig = cluster_map.plot_cluster_map(table.geometry, table["cluster"].to_numpy(), NAMES, colors)
    assert (fig.axes[0].collections[0].get_facecolors()[:, 3] == 1).all()
    assert fig.axes[0].get_xlabel() == ""
    save_figure(fig, [tmp_path / "direct.png"], 80)
    for threshold in (0.75, 0.1):
        cluster_map.draw_cluster_map(
            tables[0], [tmp_path / "drawn.png"], FINAL_K, "tab10", 80, threshold
        )
        assert (tmp_path / "drawn.png").read_bytes() == (tmp_path / "direct.png").read_bytes()


# --- web map -------------------------------------------------------------------------------
def test_web_map_tiles_carry_their_confidence(tables):
    table = gpd.read_parquet(tables[1])
    records = popup_chunks(table, [], np.array([], dtype=np.int64))[0]
    expected = [None if c != c else round(c, 3) for c in table[COLUMN]]
    assert records["q"] == expected
    first = {key: values[0] for key, values in records.items()}
    assert first == {"t": SIDE * SIDE - 1, "s": "scene_0", "r": 0, "c": 0, "v": [], "h": 0, "q": 1}
    low = read_map(render_web_map(table).page).low  # what the page fades: the library's rule
    assert low.tolist() == expected_low(table[COLUMN].to_numpy()).astype(int).tolist()
    plain = gpd.read_parquet(tables[0])
    assert "q" not in popup_chunks(plain, [], np.array([], dtype=np.int64))[0]
    assert read_map(render_web_map(plain).page).low is None


def _meta(html: str) -> dict:
    return json.loads(re.search(r"var satclusterMeta = (.*);$", html, re.MULTILINE).group(1))


def test_web_map_without_the_column_is_the_same_file(tables):
    confident = gpd.read_parquet(tables[1])
    plain = render_web_map(confident.drop(columns=COLUMN))
    assert plain == render_web_map(gpd.read_parquet(tables[0]), 0.1)  # the threshold plays no part
    assert "lowConfidence" not in _meta(plain.page)  # web_map.js then fades nothing
    meta = _meta(render_web_map(confident).page)
    assert meta["lowConfidence"] == THRESHOLD and meta["fadedOpacity"] == FADED_OPACITY
    assert meta["fadedCaption"] == "faded: fewer than 75% of seeds agree"


# --- confidence figure ---------------------------------------------------------------------
def test_confidence_bars_are_the_per_cluster_means(tables, tmp_path):
    table = pd.read_parquet(tables[1])
    labels, confidence = table["cluster"].to_numpy(), table[COLUMN].to_numpy()
    fig = cluster_confidence.plot_cluster_confidence(
        labels, confidence, NAMES, cluster_colors(FINAL_K), THRESHOLD
    )
    means, lows = fig.axes
    by_cluster = table.assign(low=expected_low(confidence)).groupby("cluster")
    assert np.allclose([p.get_width() for p in means.patches], by_cluster[COLUMN].mean() * 100)
    assert np.allclose([p.get_width() for p in lows.patches], by_cluster["low"].mean() * 100)
    colors = [mpl.colors.to_hex(p.get_facecolor()) for p in means.patches]
    assert colors == cluster_colors(FINAL_K)
    assert [t.get_text() for t in means.get_yticklabels()] == [
        f"{i} · {name}" for i, name in enumerate(NAMES)
    ]
    assert THRESHOLD * 100 in [line.get_xdata()[0] for line in means.lines]

    cluster_confidence.draw_cluster_confidence(
        tables[1], outputs(tmp_path, "cc"), FINAL_K, "tab10", 80, THRESHOLD
    )
    assert_not_blank(tmp_path / "cc.png")
    assert (tmp_path / "cc.pdf").stat().st_size > 1000


def test_confidence_summary_of_an_empty_cluster():
    summary = cluster_confidence.confidence_summary(
        np.array([0, 0, 2]), np.array([1.0, 0.5, 0.25]), 3, THRESHOLD
    )
    assert summary["tiles"].tolist() == [2, 0, 1]
    assert summary["mean_confidence"].tolist()[::2] == [0.75, 0.25]
    assert np.isnan(summary["mean_confidence"][1])
    assert summary["low_share"].tolist() == [0.5, 0.0, 1.0]
    fig = cluster_confidence.plot_cluster_confidence(
        np.array([0, 0, 2]), np.array([1.0, 0.5, 0.25]), ["a", "b", "c"], cluster_colors(3)
    )
    assert [t.get_text() for t in fig.axes[0].texts] == [" 75%", " N.A.", " 25%"]


def test_confidence_figure_without_the_column_says_what_to_turn_on(tables, tmp_path):
    with pytest.raises(InputError, match=r"plain\.parquet.*several seeds.*clusters\.consensus"):
        cluster_confidence.draw_cluster_confidence(
            tables[0], outputs(tmp_path, "cc"), FINAL_K, "tab10", 80
        )
    assert not (tmp_path / "cc.png").exists()
