"""The interactive map at 10^5 tiles: page size, size of the files beside it, write time and
first paint in headless Chromium, against the single-file GeoJSON page it replaced.

Reproduce (repository root; about a minute on 2 cores):

    .venv/bin/python benchmarks/web_map.py [--tiles 100000] [--baseline-tiles 100000]

Builds a synthetic cluster table and tile array (a square grid of 64 px tiles of 32 m in
EPSG:32630 near Accra, 6 ks, 10 covariates, a consensus confidence, 10^4 thumbnails) in a
temporary folder, writes the map with the real ``write_web_map`` and measures it. First
paint is the time from navigation start until the page's own script says the tiles have
been drawn (``window.satclusterPainted``, set after the frame of the tile canvas's first
draw); popup is the time to read a popup's data (a chunk script and a thumbnail) from the
folder beside the page.

The baseline, measured in the same run, is the page as it was before (one file: GeoJSON
features with compact properties, every thumbnail inlined as a JPEG data URI, one Leaflet
polygon per tile on Leaflet's canvas renderer), rebuilt here from the same table, with the
same marker set once Leaflet's renderer has drawn (``--baseline-tiles 0``: skip it). The
library's own former page measured 70.9 MB and 5.1 s on the same machine and table.

The last line reads: ``web_map: <N> tiles; page <MB> MB (baseline <MB> MB); files <MB> MB;
first paint <s> s (baseline <s> s)``. ``measure_map`` is what benchmarks/scale.py imports.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from satcluster.columns import CLUSTER_CONFIDENCE, label_column
from satcluster.figures.common import COVARIATES, tile_polygons
from satcluster.figures.palette import cluster_colors
from satcluster.figures.web_map import files_folder, leaflet_assets, write_web_map
from satcluster.figures.web_map_data import thumbnail_ids, thumbnail_jpeg

# The browser tests' Chromium, chromedriver and flags (one copy): the repository root on the
# import path, as pytest puts it (pyproject.toml).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.harness.browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS  # noqa: E402

CRS = "EPSG:32630"
WEST, NORTH = 806_000.0, 640_000.0  # near Accra, on the 32 m grid
TILE_M, TILE_PX = 32, 64
KS, FINAL_K = [2, 4, 6, 8, 10, 12], 8
THUMBNAILS, THUMBNAIL_PX = 10_000, 96  # figures.map_max_thumbnails and map_thumbnail_px
PAINT_TIMEOUT_S = 120
__all__ = ["make_inputs", "measure_map", "write_baseline"]


# --- inputs --------------------------------------------------------------------------------
def smooth_field(rng: np.random.Generator, side: int, cells: int = 12) -> np.ndarray:
    """A side x side field in 0..1 that varies over ~side/cells tiles (districts, not noise)."""
    coarse = rng.random((cells + 1, cells + 1))
    at = np.linspace(0, cells, side)
    i = np.minimum(at.astype(int), cells - 1)
    f = at - i
    rows = coarse[i] * (1 - f)[:, None] + coarse[i + 1] * f[:, None]
    return rows[:, i] * (1 - f) + rows[:, i + 1] * f


def make_table(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """n tiles on a square grid (two scenes side by side), 6 ks, 10 covariates, confidence."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    rows, cols = np.divmod(np.arange(n), side)
    field = smooth_field(rng, side)[rows, cols]
    labels = {k: np.minimum((field * k).astype(int), k - 1) for k in KS}
    x, y = WEST + cols * TILE_M, NORTH - rows * TILE_M
    half = side // 2
    table = gpd.GeoDataFrame(
        {
            "tile_id": np.arange(n, dtype=np.int64),
            "scene": np.where(cols < half, "scene_0", "scene_1"),
            "row": rows,
            "col": np.where(cols < half, cols, cols - half),
            "cluster": labels[FINAL_K],
            "cluster_name": [f"phenotype {c}" for c in labels[FINAL_K]],
            **{label_column(k): labels[k] for k in KS},
        },
        geometry=shapely.box(x, y - TILE_M, x + TILE_M, y),
        crs=CRS,
    )
    for column in list(COVARIATES)[:10]:
        table[column] = np.round(rng.gamma(2.0, 50.0, n) * (1 + field), 6)
    table[CLUSTER_CONFIDENCE] = rng.choice([1.0, 5 / 6, 2 / 3, 1 / 2, 1 / 3], n)
    return table


def write_tiles(path: Path, n: int, ids: np.ndarray, seed: int = 0) -> None:
    """tiles.npy of n 64 px tiles; only ``ids`` (the thumbnailed ones) get pixels.

    The other rows stay zeros in a sparse file: 1.2 GB of zeros at 10^5 tiles that the map
    never reads. The pixels are smooth texture plus noise, so JPEGs weigh what imagery does.
    """
    rng = np.random.default_rng(seed)
    tiles = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.uint8, shape=(n, TILE_PX, TILE_PX, 3)
    )
    ramp = np.linspace(0, 1, TILE_PX)
    base = (np.add.outer(ramp, ramp)[:, :, None] * np.array([60, 50, 40])).astype(np.float32)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        tint = rng.integers(40, 160, (len(chunk), 1, 1, 3))
        noise = rng.normal(0, 12, (len(chunk), TILE_PX, TILE_PX, 3))
        tiles[chunk] = np.clip(base + tint + noise, 0, 255).astype(np.uint8)
    tiles.flush()


def make_inputs(root: Path, n: int) -> tuple[Path, Path]:
    """(cluster table, tile array) of n synthetic tiles under root."""
    table = make_table(n)
    table.to_parquet(root / "clusters.parquet")
    write_tiles(root / "tiles.npy", n, thumbnail_ids(table["tile_id"].to_numpy(), THUMBNAILS))
    return root / "clusters.parquet", root / "tiles.npy"


# --- the baseline: the single-file page the map was before ---------------------------------
# As folium wrote it: a view at zoom 15, the layer's polygons added, then fit to the tiles.
BASELINE_SCRIPT = """
var meta = satclusterMeta;
var map = L.map("map", {preferCanvas: true, center: meta.center, zoom: 15});
var layer = L.geoJSON(null, {style: function (f) {
  return {fillColor: meta.colors[f.properties.k[meta.finalIndex]], fillOpacity: 0.75,
          stroke: false};
}}).addTo(map);
layer.addData(satclusterData);
map.fitBounds(meta.bounds);
// Leaflet's canvas renderer draws in the next animation frame; the marker after it.
requestAnimationFrame(function () {
  requestAnimationFrame(function () { window.satclusterPainted = performance.now(); });
});
"""


def baseline_features(table: gpd.GeoDataFrame) -> dict:
    """The former GeoJSON: rings rounded to 1e-6 deg, properties t, s, r, c, k, v, q."""
    rings = tile_polygons(table.geometry.to_crs("EPSG:4326"), decimals=6)
    labels = np.column_stack([table[label_column(k)] for k in KS]).tolist()
    values = np.round(table[[c for c in COVARIATES if c in table]].to_numpy(float), 3).tolist()
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring.tolist()]},
                "properties": {"t": t, "s": s, "r": r, "c": c, "k": k, "v": v, "q": round(q, 3)},
            }
            for t, s, r, c, k, v, q, ring in zip(
                table["tile_id"].tolist(),
                table["scene"].tolist(),
                table["row"].tolist(),
                table["col"].tolist(),
                labels,
                values,
                table[CLUSTER_CONFIDENCE].tolist(),
                rings,
                strict=True,
            )
        ],
    }


def write_baseline(table_path: Path, tiles_path: Path, html: Path) -> None:
    """The former map.html of this table: one file, GeoJSON and data-URI thumbnails inline."""
    table = gpd.read_parquet(table_path)
    tiles = np.load(tiles_path, mmap_mode="r")
    thumbs = {
        str(t): "data:image/jpeg;base64,"
        + base64.b64encode(thumbnail_jpeg(tiles[t], THUMBNAIL_PX)).decode()
        for t in thumbnail_ids(table["tile_id"].to_numpy(), THUMBNAILS).tolist()
    }
    west, south, east, north = table.to_crs("EPSG:4326").total_bounds
    meta = {
        "finalIndex": KS.index(FINAL_K),
        "colors": cluster_colors(FINAL_K, "tab10"),
        "center": [(south + north) / 2, (west + east) / 2],
        "bounds": [[south, west], [north, east]],
    }
    script, css = leaflet_assets()
    data = "\n".join(
        f"var {name} = {json.dumps(value, separators=(',', ':'))};"
        for name, value in [
            ("satclusterMeta", meta),
            ("satclusterThumbs", thumbs),
            ("satclusterData", baseline_features(table)),
        ]
    )
    html.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<style>{css} html, body, #map {{ height: 100%; margin: 0; }}</style>"
        f"<script>{script}</script><script>{data}</script></head>"
        f"<body><div id='map'></div><script>{BASELINE_SCRIPT}</script></body></html>",
        encoding="utf-8",
    )


# --- measuring -----------------------------------------------------------------------------
def folder_bytes(folder: Path) -> int:
    """Bytes of the files under folder (0 when there is none)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def headless_chromium(profile: Path):
    """Chromium under Selenium with the browser tests' flags (tests/harness/browser.py)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # a larger window than the tests': the benchmark times painting a whole city
    flags = [flag for flag in CHROMIUM_FLAGS if not flag.startswith("--window-size=")]
    for flag in (*flags, "--window-size=1280,800", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAINT_TIMEOUT_S)
    return driver


# A popup's data: its chunk script read from the folder, then a thumbnail of that chunk.
POPUP_SCRIPT = """
var done = arguments[arguments.length - 1];
if (typeof satclusterRecord !== "function") { done(null); return; }
var start = performance.now(), i = Math.floor(satclusterTiles.n / 2);
satclusterRecord(i, function () {
  var chunk = satclusterChunkData[Math.floor(i / satclusterMeta.chunkTiles)];
  var j = chunk.h.indexOf(1), image = new Image();
  image.onload = image.onerror = function () { done((performance.now() - start) / 1000); };
  image.src = encodeURIComponent(satclusterMeta.files) + "/thumbnails/" + chunk.t[j] + ".jpg";
});
"""


def load_page(html: Path) -> tuple[float, float | None]:
    """(first paint, popup data) seconds of one load in a fresh browser.

    First paint: from navigation start until the page reports its tiles drawn; popup data:
    reading a chunk and a thumbnail from the folder (None for a page without them).
    Raises FileNotFoundError without Chromium, TimeoutError when the page never reports.
    """
    for program in (CHROMIUM, CHROMEDRIVER):
        if not Path(program).exists():
            raise FileNotFoundError(
                f"{program} is missing: apt-get install chromium chromium-driver"
            )
    with tempfile.TemporaryDirectory() as profile:
        driver = headless_chromium(Path(profile))
        try:
            driver.get(html.resolve().as_uri())
            deadline = time.monotonic() + PAINT_TIMEOUT_S
            while time.monotonic() < deadline:
                painted = driver.execute_script("return window.satclusterPainted || null;")
                if painted is not None:
                    return painted / 1000, driver.execute_async_script(POPUP_SCRIPT)
                time.sleep(0.05)
            raise TimeoutError(f"{html} did not report a first paint in {PAINT_TIMEOUT_S} s")
        finally:
            driver.quit()


def measure_map(html_path: str | Path, repeats: int = 3) -> dict:
    """page_mb, files_mb (the folder beside it, ``map_files/`` for ``map.html``),
    first_paint_s and popup_s (best of ``repeats`` loads in fresh headless Chromiums)."""
    html = Path(html_path)
    loads = [load_page(html) for _ in range(repeats)]
    popups = [popup for _, popup in loads if popup is not None]
    return {
        "page_mb": html.stat().st_size / 1e6,
        "files_mb": folder_bytes(files_folder(html)) / 1e6,
        "first_paint_s": min(paint for paint, _ in loads),
        "popup_s": min(popups) if popups else None,
    }


def write_map(table: Path, tiles: Path, html: Path) -> float:
    """Write the map with the library; its wall seconds."""
    start = time.perf_counter()
    write_web_map(table, tiles, html, KS, FINAL_K, "tab10", THUMBNAIL_PX, THUMBNAILS, False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiles", type=int, default=100_000)
    parser.add_argument("--baseline-tiles", type=int, default=100_000, help="0: no baseline")
    parser.add_argument("--repeats", type=int, default=3, help="first paint: best of")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        table, tiles = make_inputs(root, args.tiles)
        seconds = write_map(table, tiles, root / "map.html")
        ours = measure_map(root / "map.html", args.repeats)
        print(
            f"ours, {args.tiles} tiles: page {ours['page_mb']:.2f} MB, files beside it "
            f"{ours['files_mb']:.1f} MB, written in {seconds:.1f} s, first paint "
            f"{ours['first_paint_s']:.2f} s, a popup's chunk and thumbnail read in "
            f"{ours['popup_s']:.3f} s"
        )
        base = {"page_mb": float("nan"), "first_paint_s": float("nan")}
        if args.baseline_tiles:
            if args.baseline_tiles != args.tiles:
                (root / "base").mkdir()
                table, tiles = make_inputs(root / "base", args.baseline_tiles)
            start = time.perf_counter()
            write_baseline(table, tiles, root / "baseline.html")
            seconds = time.perf_counter() - start
            base = measure_map(root / "baseline.html", args.repeats)
            print(
                f"baseline (one file, GeoJSON), {args.baseline_tiles} tiles: page "
                f"{base['page_mb']:.2f} MB, written in {seconds:.1f} s, first paint "
                f"{base['first_paint_s']:.2f} s; ratios ours / baseline: page "
                f"{ours['page_mb'] / base['page_mb']:.3f}, first paint "
                f"{ours['first_paint_s'] / base['first_paint_s']:.3f}"
            )
    print(
        f"web_map: {args.tiles} tiles; page {ours['page_mb']:.2f} MB (baseline "
        f"{base['page_mb']:.2f} MB); files {ours['files_mb']:.1f} MB; first paint "
        f"{ours['first_paint_s']:.2f} s (baseline {base['first_paint_s']:.2f} s)"
    )


if __name__ == "__main__":
    main()
