"""The interactive map: offline single file, a layer per k, popups with covariates and a
thumbnail; and, in a real headless Chromium, a page without console errors showing the tiles."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import pytest
import shapely
from conftest import wait_for
from PIL import Image
from web_map_checks import check_map, external_resources

from satcluster.errors import InputError
from satcluster.figures.common import COVARIATES
from satcluster.figures.palette import cluster_colors
from satcluster.figures.web_map import build_web_map, leaflet_assets, write_web_map
from satcluster.figures.web_map_data import thumbnail_data_uri, thumbnail_ids, tile_features

KS = [2, 4]
FINAL_K = 4
SIDE = 8
NAMES = ["dense buildings", "roads", "water", "vegetation"]


def make_table(path: Path) -> gpd.GeoDataFrame:
    """8 x 8 tiles of 32 m near Accra (EPSG:32630), quadrants = the 4 clusters."""
    rows, cols = np.divmod(np.arange(SIDE * SIDE), SIDE)
    k4 = (rows >= SIDE // 2) * 2 + (cols >= SIDE // 2)
    x0, y0 = 810_000.0, 620_000.0
    table = gpd.GeoDataFrame(
        {
            "tile_id": np.arange(SIDE * SIDE),
            "scene": "scene_0",
            "row": rows,
            "col": cols,
            "cluster": k4,
            "cluster_name": [NAMES[c] for c in k4],
            "label_k2": k4 // 2,
            "label_k4": k4,
            "building_count": np.where(k4 == 2, 0, 7),
            "building_orientation_deg": np.where(k4 == 2, np.nan, 12.345678),
            "ndvi_mean": 0.25,
        },
        geometry=shapely.box(
            x0 + cols * 32, y0 - (rows + 1) * 32, x0 + (cols + 1) * 32, y0 - rows * 32
        ),
        crs="EPSG:32630",
    )
    table.to_parquet(path)
    return table


def make_tiles(path: Path, n: int, side: int = 16) -> None:
    tiles = np.zeros((n, side, side, 3), np.uint8)
    tiles[:, :, :, 0] = np.arange(n)[:, None, None] * 3
    tiles[:, : side // 2, :, 1] = 200  # a top half that the thumbnail must keep
    np.save(path, tiles)


@pytest.fixture(scope="module")
def web_map(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("webmap")
    make_table(root / "clusters.parquet")
    make_tiles(root / "tiles.npy", SIDE * SIDE)
    write_web_map(
        root / "clusters.parquet",
        root / "tiles.npy",
        root / "map.html",
        KS,
        FINAL_K,
        "tab10",
        thumbnail_px=32,
        max_thumbnails=1000,
        basemap=False,
    )
    return root / "map.html"


# --- the file ------------------------------------------------------------------------------
def test_leaflet_is_inlined_with_its_images():
    script, css = leaflet_assets()
    assert "Leaflet 1.9.4" in script[:300]
    assert "url(images/" not in css and "url(data:image/png;base64," in css


def test_map_loads_nothing_from_the_network(web_map):
    html = web_map.read_text()
    assert "<script src=" not in html.replace(" ", "")
    assert "<link" not in html
    assert "cdn.jsdelivr" not in html and "code.jquery" not in html
    assert "L.map(" in html and "tile.openstreetmap" not in html


def test_map_has_one_base_layer_per_k_and_shows_the_final_k(web_map):
    html = web_map.read_text()
    assert '"k = 2" :' in html and '"k = 4 (final)" :' in html
    assert html.count("= satclusterLayer(") == len(KS)
    assert "satclusterLegend(" in html


def test_map_content_layers_legend_popups_tiles_thumbnails(web_map):
    covariates = ["building_count", "building_orientation_deg", "ndvi_mean"]
    content = check_map(
        web_map.read_text(),
        KS,
        FINAL_K,
        n_tiles=SIDE * SIDE,
        covariates=[COVARIATES[c][1] for c in covariates],
        n_thumbnails=SIDE * SIDE,
    )
    assert content.meta["names"] == NAMES
    assert content.meta["shares"] == [[0.5, 0.5], [0.25, 0.25, 0.25, 0.25]]


def test_map_checks_catch_what_a_browser_would_fetch():
    assert external_resources('<script src="https://cdn.example/leaflet.js"></script>')
    assert external_resources('<link rel="stylesheet" href="leaflet.css">')
    assert external_resources("<style>a { background: url(https://x.org/i.png) }</style>")
    assert external_resources('<img src="//x.org/i.png">')
    assert not external_resources('<img src="data:image/jpeg;base64,AAAA">')
    assert not external_resources('<a href="https://leafletjs.com">Leaflet</a>')


def test_map_is_the_same_file_for_the_same_input(tmp_path):
    table = make_table(tmp_path / "t.parquet")
    first = build_web_map(table, {}, KS, FINAL_K, "tab10", 32, False).get_root().render()
    second = build_web_map(table, {}, KS, FINAL_K, "tab10", 32, False).get_root().render()
    assert first == second


def test_optional_basemap_is_an_overlay(tmp_path):
    table = make_table(tmp_path / "t.parquet")
    html = build_web_map(table, {}, KS, FINAL_K, "tab10", 32, True).get_root().render()
    assert "tile.openstreetmap.org" in html
    assert '"OpenStreetMap (online)" :' in html


def test_tile_features_are_wgs84_with_compact_properties(tmp_path):
    table = make_table(tmp_path / "t.parquet")
    features = tile_features(table, KS, ["building_count", "building_orientation_deg"])["features"]
    assert len(features) == SIDE * SIDE
    first = features[0]
    ring = np.array(first["geometry"]["coordinates"][0])
    assert ring.shape == (5, 2)
    lon, lat = ring.mean(axis=0)
    assert -0.5 < lon < 0 and 5 < lat < 6  # Accra
    assert first["properties"] == {
        "t": 0,
        "s": "scene_0",
        "r": 0,
        "c": 0,
        "k": [0, 0],
        "v": [7, 12.346],
    }
    water = features[SIDE * SIDE - SIDE]  # bottom-left quadrant: cluster 2, no buildings
    assert water["properties"]["v"] == [0, None]


def test_thumbnails_are_sampled_deterministically_and_sized():
    ids = np.arange(50)[::-1]
    assert thumbnail_ids(ids, 100).tolist() == list(range(50))
    sample = thumbnail_ids(ids, 10)
    assert len(sample) == 10 and (sample == thumbnail_ids(ids[::-1], 10)).all()
    tile = np.zeros((16, 16, 3), np.uint8)
    tile[:8] = 255
    uri = thumbnail_data_uri(tile, 32)
    assert uri.startswith("data:image/jpeg;base64,")
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert image.shape == (32, 32, 3)
    assert image[:12].mean() > 240 and image[20:].mean() < 15


def test_map_embeds_a_thumbnail_per_tile(web_map):
    html = web_map.read_text()
    assert html.count("data:image/jpeg;base64,") == SIDE * SIDE


def test_missing_label_column_is_a_clear_error(tmp_path):
    make_table(tmp_path / "t.parquet")
    make_tiles(tmp_path / "tiles.npy", SIDE * SIDE)
    with pytest.raises(InputError, match="label_k6"):
        write_web_map(
            tmp_path / "t.parquet",
            tmp_path / "tiles.npy",
            tmp_path / "m.html",
            [2, 4, 6],
            4,
            "tab10",
            32,
            10,
            False,
        )
    assert not (tmp_path / "m.html").exists()


# --- in a real browser ---------------------------------------------------------------------
def _blend(color: str, alpha: float = 0.75, background: str = "#dddddd") -> np.ndarray:
    """Colour of a tile (fill opacity ``alpha``) over Leaflet's grey background, 0-255."""
    fg, bg = np.array(mpl.colors.to_rgb(color)), np.array(mpl.colors.to_rgb(background))
    return (alpha * fg + (1 - alpha) * bg) * 255


@pytest.mark.browser
def test_map_in_headless_chromium(browser, web_map, tmp_path):
    browser.get(web_map.as_uri())
    wait_for(browser, "return document.querySelector('.leaflet-overlay-pane canvas') !== null")
    wait_for(browser, "return document.querySelector('.satcluster-legend') !== null")
    time.sleep(0.5)  # let the canvas paint
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []

    legend = browser.find_element("css selector", ".satcluster-legend").text
    assert "clusters, k = 4" in legend and "2 · water (25.0%)" in legend
    layers = browser.find_elements("css selector", ".leaflet-control-layers-base label")
    assert [label.text.strip() for label in layers] == ["k = 2", "k = 4 (final)"]

    shot = tmp_path / "map.png"
    browser.save_screenshot(str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(float)
    for color in cluster_colors(FINAL_K):
        near = (np.abs(pixels - _blend(color)) <= 6).all(axis=1).sum()
        assert near > 5000, f"few pixels of cluster colour {color}: {near}"

    # A click on a tile opens its popup: covariates and the thumbnail.
    canvas = browser.find_element("css selector", ".leaflet-overlay-pane canvas")
    from selenium.webdriver.common.action_chains import ActionChains

    size = browser.execute_script(
        "var r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas
    )
    ActionChains(browser).move_to_element_with_offset(
        canvas, -size[0] // 8, size[1] // 8
    ).click().perform()
    # Leaflet fades a popup in (opacity 0 -> 1); Selenium's .text is "" while it is not yet
    # visible, so wait until it is opaque (reading it earlier gave an empty popup at random).
    popup = wait_for(
        browser,
        "var p = document.querySelector('.leaflet-popup');"
        "return p && getComputedStyle(p).opacity === '1'"
        " ? p.querySelector('.leaflet-popup-content') : null;",
    )
    assert len(browser.find_elements("css selector", ".leaflet-popup")) == 1
    text = popup.text
    assert "cluster water" in text and "building orientation" in text and "N.A." in text
    image = browser.execute_script(
        "var img = document.querySelector('.leaflet-popup-content img');"
        "return img && img.complete ? img.naturalWidth : 0;"
    )
    assert image == 32

    # Switching to k = 2 recolours the tiles and the legend follows.
    layers[0].click()
    wait_for(
        browser, "return document.querySelector('.satcluster-legend').innerText.includes('k = 2')"
    )
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
