"""The interactive map in a real headless Chromium (Debian's chromium and chromedriver,
installed with apt-get when missing and root): a page without console errors showing the
tiles, whose popups read the folder from file://, and that fades the tiles of low
consensus confidence. The pages are written from the small tables of tests/harness/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import pytest
import shapely
from PIL import Image

from satcluster.columns import CLUSTER_CONFIDENCE
from satcluster.figures.palette import cluster_colors
from satcluster.figures.web_map import FADED_OPACITY, save_web_map
from satcluster.figures.web_map_data import interpolate, map_grid, mercator
from tests.harness.apt_packages import apt_install
from tests.harness.browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, debian_root, wait_for
from tests.harness.figure_inputs import confidence_tables, expected_low, render_web_map
from tests.harness.web_map_inputs import FINAL_K, SIDE, X0, Y0, write


@pytest.fixture(scope="session")
def chromium() -> None:
    """Debian's chromium and chromedriver, installed with apt-get when missing (root only)."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    reason = debian_root()
    if reason:
        pytest.skip(reason)
    result = apt_install(["chromium", "chromium-driver"], recommends=True)
    if result.returncode != 0:
        pytest.fail(f"apt-get install chromium chromium-driver failed: {result.stderr[-500:]}")


@pytest.fixture
def browser(chromium, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never runs (it would try to download).
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def web_map(tmp_path_factory) -> Path:
    """The map of tests/harness/web_map_inputs.py's 8 x 8 table, every tile thumbnailed."""
    return write(tmp_path_factory.mktemp("webmap"))


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """(path without confidence, path with confidence) of two cluster GeoParquets."""
    return confidence_tables(tmp_path_factory.mktemp("confidence_inputs"))


# --- the map: tiles, legend, layers, popups ----------------------------------------------------
def _blend(color: str, alpha: float = 0.75, background: str = "#dddddd") -> np.ndarray:
    """Colour of a tile (fill opacity ``alpha``) over Leaflet's grey background, 0-255."""
    fg, bg = np.array(mpl.colors.to_rgb(color)), np.array(mpl.colors.to_rgb(background))
    return (alpha * fg + (1 - alpha) * bg) * 255


def click_tile(browser, tile: int):
    """Click the centre of tile ``tile`` of the 8 x 8 table; the popup once it is opaque."""
    from selenium.webdriver.common.action_chains import ActionChains

    row, col = divmod(tile, SIDE)
    centre = gpd.GeoSeries(
        [shapely.Point(X0 + (col + 0.5) * 32, Y0 - (row + 0.5) * 32)], crs="EPSG:32630"
    ).to_crs("EPSG:4326")[0]
    container = browser.find_element("css selector", ".leaflet-container")
    x, y, width, height = browser.execute_script(
        "var p = satclusterMap.latLngToContainerPoint(L.latLng(arguments[0], arguments[1]));"
        "var r = arguments[2].getBoundingClientRect(); return [p.x, p.y, r.width, r.height];",
        centre.y,
        centre.x,
        container,
    )
    ActionChains(browser).move_to_element_with_offset(
        container, int(x - width / 2), int(y - height / 2)
    ).click().perform()
    # Leaflet fades a popup in (opacity 0 -> 1); Selenium's .text is "" while it is not yet
    # visible, so wait until it is opaque (reading it earlier gave an empty popup at random).
    return wait_for(
        browser,
        "var p = document.querySelector('.leaflet-popup');"
        "return p && getComputedStyle(p).opacity === '1'"
        " ? p.querySelector('.leaflet-popup-content') : null;",
    )


def severe(browser) -> list[dict]:
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.browser
def test_map_in_headless_chromium(browser, web_map, tmp_path):
    browser.get(web_map.as_uri())
    wait_for(browser, "return window.satclusterPainted !== undefined")
    wait_for(browser, "return document.querySelector('.satcluster-legend') !== null")
    assert browser.find_elements("css selector", ".leaflet-overlay-pane canvas")
    assert severe(browser) == []

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

    # The page places the corners as web_map_data does (which the tests above check).
    table = gpd.read_parquet(web_map.with_name("clusters.parquet"))
    grid = map_grid(table)
    node_x, node_y = grid.columns[:, None] + [0, 1, 1, 0], grid.rows[:, None] + [0, 0, 1, 1]
    expected = np.stack(interpolate(*mercator(grid.lat, grid.lng), grid.step, node_x, node_y))
    corners = np.array(browser.execute_script("return Array.from(satclusterDecode().corners);"))
    assert np.allclose(corners.reshape(-1, 4, 2).transpose(2, 0, 1), expected, rtol=0, atol=1e-12)

    # A click on a tile opens its popup: covariates and the thumbnail, read from map_files/.
    popup = click_tile(browser, SIDE * (SIDE - 2) + 1)  # row 6, col 1: water
    assert len(browser.find_elements("css selector", ".leaflet-popup")) == 1
    text = popup.text
    assert f"tile {SIDE * (SIDE - 2) + 1}" in text and "row 6, col 1" in text
    assert "cluster water" in text and "building orientation" in text and "N.A." in text
    image = wait_for(
        browser,
        "var img = document.querySelector('.leaflet-popup-content img');"
        "return img && img.complete ? [img.naturalWidth, img.getAttribute('src')] : null;",
    )
    assert image == [32, f"map_files/thumbnails/{SIDE * (SIDE - 2) + 1}.jpg"]

    # Switching to k = 2 recolours the tiles and the legend follows.
    layers[0].click()
    wait_for(
        browser, "return document.querySelector('.satcluster-legend').innerText.includes('k = 2')"
    )
    assert severe(browser) == []


@pytest.mark.browser
def test_page_without_its_folder_still_draws_and_says_where_popups_are(browser, web_map, tmp_path):
    alone = tmp_path / "map.html"
    shutil.copyfile(web_map, alone)
    browser.get(alone.as_uri())
    wait_for(browser, "return window.satclusterPainted !== undefined")
    text = click_tile(browser, 0).text
    assert "cluster dense buildings" in text and "k2: 0, k4: 0" in text
    assert "map_files/ beside this page" in text
    time.sleep(0.2)
    errors = [e["message"] for e in severe(browser)]
    assert all("popups/0.js" in message for message in errors), errors  # the missing chunk only


# --- consensus confidence: faded tiles --------------------------------------------------------
@pytest.mark.browser
def test_web_map_fades_low_confidence_tiles_and_says_so_in_chromium(browser, tables, tmp_path):
    table = gpd.read_parquet(tables[1])
    page = tmp_path / "map.html"
    save_web_map(render_web_map(table), page)
    browser.get(page.as_uri())
    legend = wait_for(browser, "return document.querySelector('.satcluster-legend');")
    wait_for(browser, "return window.satclusterPainted !== undefined;")
    # every tile's fill opacity at two k, and its popup (its chunk read from map_files/)
    result = browser.execute_async_script(
        "var done = arguments[arguments.length - 1], meta = satclusterMeta;"
        "var n = satclusterTiles.n, popups = new Array(n), left = n;"
        "function opacities(k) { var out = [];"
        "  for (var i = 0; i < n; i++) { out.push(satclusterOpacity(k, i)); } return out; }"
        "for (var i = 0; i < n; i++) { (function (i) { satclusterRecord(i, function (record) {"
        "  popups[i] = satclusterPopup(record);"
        "  if (--left === 0) { done({final: opacities(meta.finalIndex), other: opacities(0),"
        "    popups: popups}); } }); })(i); }"
    )
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    low = expected_low(table[CLUSTER_CONFIDENCE].to_numpy())
    assert result["final"] == np.where(low, FADED_OPACITY, 0.75).tolist()
    assert result["other"] == [0.75] * len(table)  # confidence is of the final k only
    for popup, value, is_low in zip(result["popups"], table[CLUSTER_CONFIDENCE], low, strict=True):
        if value != value:
            assert "(k = 4)<br>confidence: N.A.<br>" in popup
        else:
            text = f"{'<b>low</b>, ' if is_low else ''}{round(100 * value)}% of seeds agree"
            assert f"(k = 4)<br>confidence: {text}<br>" in popup, popup
    # the canvas draws the faded tiles at that opacity: the alpha of the final k's pixels
    alphas = browser.execute_script(
        "var canvas = document.querySelector('.leaflet-overlay-pane canvas');"
        "var data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;"
        "var seen = {}; for (var i = 3; i < data.length; i += 4) { seen[data[i]] = 1; }"
        "return Object.keys(seen).map(Number).sort(function (a, b) { return a - b; });"
    )
    assert alphas == [0, round(255 * FADED_OPACITY), round(255 * 0.75)]
    assert "faded: fewer than 75% of seeds agree" in legend.text
    # another k: its legend has no faded entry (its tiles are not faded)
    browser.execute_script("document.querySelector('.leaflet-control-layers-base input').click();")
    wait_for(
        browser,
        "return document.querySelector('.satcluster-legend').textContent.indexOf('k = 2') >= 0;",
    )
    assert "faded" not in browser.find_element("css selector", ".satcluster-legend").text
