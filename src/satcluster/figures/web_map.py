"""Interactive map (results/map.html): tiles coloured by cluster, one layer per k, popups.

The page works offline: Leaflet's JavaScript and CSS are inlined (from the
``django-js-lib-leaflet`` wheel, which ships the official Leaflet 1.9.4 build under its
BSD-2 licence) instead of folium's CDN links, and there is no basemap unless asked for.
The map's own script (drawing, popups, legend) and style are ``assets/web_map.js`` and
``assets/web_map.css``; the data it shows is packed by ``figures.web_map_data``.

Size: the page holds what drawing needs as base64 typed arrays (a tile's grid cell in 4
bytes, its label at every k in 1 byte each, its fading in 1), and the browser rasterises
every tile of a k into one canvas, so 10^5 tiles at 6 ks make a page of 1.7 MB that
paints in well under a second (benchmarks/web_map.py). What a popup shows is in a folder beside the
page (``map_files/`` beside ``map.html``): chunk scripts of popup data and one JPEG per
thumbnailed tile (at most ``max_thumbnails``, a fixed random sample), which the browser
reads when a popup opens, also from a page opened from disk (``<script src>`` and
``<img src>`` of relative paths work on file://, unlike fetch). The page and its folder are
written together: both appear, or neither changes.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np

from satcluster.columns import (
    CLUSTER,
    CLUSTER_CONFIDENCE,
    CLUSTER_NAME,
    COL,
    ROW,
    TILE_ID,
    label_column,
)
from satcluster.figures.cluster_confidence import (
    LOW_CONFIDENCE,
    faded_caption,
)
from satcluster.figures.common import (
    COVARIATES,
    available_columns,
    cluster_names,
    cluster_shares,
    load_tile_array,
)
from satcluster.figures.palette import cluster_colors
from satcluster.figures.web_map_data import (
    CHUNK_TILES,
    MAX_ZOOM,
    chunk_script,
    map_grid,
    popup_chunks,
    script_variables,
    thumbnail_files,
    thumbnail_ids,
    tile_arrays,
)
from satcluster.figures.web_map_page import (
    ClusterLayer,
    ClusterLegend,
    FitTiles,
    OfflineMap,
    RawHTML,
    deterministic_ids,
    leaflet_assets,
    map_assets,
)
from satcluster.io import atomic_file_and_folder

__all__ = [
    "WebMap",
    "build_web_map",
    "files_folder",
    "leaflet_assets",
    "map_assets",
    "read_map_table",
    "save_web_map",
    "write_web_map",
]

log = logging.getLogger(__name__)

FADED_OPACITY = 0.25  # fill opacity of low-confidence tiles (others: 0.75, in web_map.js)


def confidence_meta(low_confidence: float) -> dict:
    """What web_map.js reads from ``satclusterMeta`` to fade tiles: threshold, opacity, caption."""
    return {
        "lowConfidence": low_confidence,
        "fadedOpacity": FADED_OPACITY,
        "fadedCaption": faded_caption(low_confidence),
    }


def layer_name(k: int, final_k: int) -> str:
    return f"k = {k}" + (" (final)" if k == final_k else "")


def page_meta(
    tiles: gpd.GeoDataFrame, ks: list[int], final_k: int, palette: str, covariates: list[str]
) -> dict:
    """The layers' and legend's part of ``satclusterMeta``: ks, colours, shares, names."""
    return {
        "ks": ks,
        "finalIndex": ks.index(final_k),
        "colors": [cluster_colors(k, palette) for k in ks],
        "shares": [
            cluster_shares(tiles[label_column(k)].to_numpy(), k).round(4).tolist() for k in ks
        ],
        "names": cluster_names(tiles, final_k),
        "layerNames": [layer_name(k, final_k) for k in ks],
        "covariates": covariates,
    }


@dataclass(frozen=True)
class WebMap:
    """A map page and what goes into the folder ``folder`` beside it (thumbnails apart)."""

    page: str  # the HTML
    folder: str  # the folder's name, as the page refers to it
    files: dict[str, bytes] = field(default_factory=dict)  # path in the folder -> content


def build_web_map(
    tiles: gpd.GeoDataFrame,
    thumbnailed: Iterable[int],
    ks: Sequence[int],
    final_k: int,
    palette: str,
    thumbnail_px: int,
    basemap: bool,
    low_confidence: float = LOW_CONFIDENCE,
    folder: str = "map_files",
) -> WebMap:
    """The page (data and Leaflet inlined, one base layer per k, a legend, no CDN) and the
    popup chunks of its folder.

    ``thumbnailed``: the tile ids whose thumbnail is written into the folder (by
    ``write_web_map``); ``folder``: its name, beside the page. With a
    ``cluster_confidence`` column, the final k's tiles below ``low_confidence`` are faded
    and popups show each tile's confidence. Raises InputError when the tiles are not the
    square cells of one grid.
    """
    ks = sorted(ks)
    covariates = [c for c in COVARIATES if c in tiles]
    thumbnailed = np.asarray(sorted(thumbnailed), dtype=np.int64)
    grid = map_grid(tiles)
    log.info("map grid: lattice every %d tiles, error %.3f px", grid.step, grid.error_px)
    meta = {
        **page_meta(tiles, ks, final_k, palette, [COVARIATES[c][1] for c in covariates]),
        "thumbnailPx": thumbnail_px,
        "thumbnails": len(thumbnailed),
        "files": folder,
        "chunkTiles": CHUNK_TILES,
        "lattice": grid.meta(),
    }
    if CLUSTER_CONFIDENCE in tiles:  # web_map.js fades and explains when meta says how
        meta.update(confidence_meta(low_confidence))
    data = script_variables(
        {"satclusterMeta": meta, "satclusterTiles": tile_arrays(tiles, ks, grid, low_confidence)}
    )
    page = render_page(data, grid.bounds, ks, final_k, basemap)
    chunks = popup_chunks(tiles, covariates, thumbnailed)
    files = {f"popups/{i}.js": chunk_script(i, chunk) for i, chunk in enumerate(chunks)}
    return WebMap(page, folder, files)


def render_page(
    data: str, bounds: tuple[float, float, float, float], ks: list[int], final_k: int, basemap: bool
) -> str:
    """The HTML: folium's map with Leaflet, the data and web_map.js inlined."""
    south, west, north, east = bounds
    web_map = OfflineMap(
        location=[(south + north) / 2, (west + east) / 2],
        tiles=None,
        control_scale=True,
        zoom_start=15,
        max_zoom=MAX_ZOOM,
    )
    script, css = leaflet_assets()
    map_script, map_css = map_assets()
    header = web_map.get_root().header
    header.add_child(RawHTML(f"<style>{css}\n\n{map_css}</style>"), name="leaflet_css")
    header.add_child(RawHTML(f"<script>{script}</script>"), name="leaflet_js")
    header.add_child(RawHTML(f"<script>{data}\n\n{map_script}</script>"), name="satcluster_data")
    FitTiles(south, west, north, east).add_to(web_map)
    if basemap:
        folium.TileLayer(
            "OpenStreetMap",
            name="OpenStreetMap (online)",
            overlay=True,
            max_native_zoom=19,
            max_zoom=MAX_ZOOM,
        ).add_to(web_map)
    final_index = ks.index(final_k)
    for index, k in enumerate(ks):
        ClusterLayer(index, layer_name(k, final_k), show=index == final_index).add_to(web_map)
    ClusterLegend(final_index).add_to(web_map)
    folium.LayerControl(collapsed=False).add_to(web_map)
    deterministic_ids(web_map.get_root())
    return web_map.get_root().render()


# --- writing the page and its folder together -------------------------------------------
def files_folder(output: str | Path) -> Path:
    """The folder beside a map page: ``map_files/`` for ``map.html``."""
    output = Path(output)
    return output.with_name(f"{output.stem}_files")


def save_web_map(
    web_map: WebMap, output: str | Path, extra: Iterable[tuple[str, bytes]] = ()
) -> None:
    """Write the page to ``output`` and its files, then ``extra`` ones, into its folder, atomically."""
    output = Path(output)
    with atomic_file_and_folder(output, output.with_name(web_map.folder)) as (tmp_page, tmp_folder):
        for name, content in itertools.chain(web_map.files.items(), extra):
            path = tmp_folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        tmp_page.write_text(web_map.page, encoding="utf-8")


def read_map_table(path: str | Path, ks: Sequence[int]) -> gpd.GeoDataFrame:
    """The cluster GeoParquet's columns the map shows (label columns of every k required)."""
    required = [TILE_ID, CLUSTER, "geometry", *(label_column(k) for k in ks)]
    optional = ["scene", ROW, COL, CLUSTER_NAME, CLUSTER_CONFIDENCE, *COVARIATES]
    return gpd.read_parquet(path, columns=available_columns(path, required, optional))


def write_web_map(
    table_path: str | Path,
    tiles_path: str | Path,
    output: str | Path,
    ks: Sequence[int],
    final_k: int,
    palette: str,
    thumbnail_px: int,
    max_thumbnails: int,
    basemap: bool,
    low_confidence: float = LOW_CONFIDENCE,
    files: str | Path | None = None,
) -> None:
    """Read the cluster table and tile array, build the map and write it atomically.

    ``output``: the page; ``files``: the folder of its popup data and thumbnails, which
    must be beside it (default: ``files_folder(output)``, ``map_files/`` for ``map.html``).
    """
    output = Path(output)
    folder = Path(files) if files is not None else files_folder(output)
    if folder.parent.resolve() != output.parent.resolve():
        raise ValueError(f"the map's folder {folder} must be beside the page {output}")
    table = read_map_table(table_path, ks)
    tile_ids = table[TILE_ID].to_numpy(np.int64)
    tiles = load_tile_array(tiles_path, tile_ids, table_path)
    ids = thumbnail_ids(tile_ids, max_thumbnails)
    log.info("%d tiles, thumbnails for %d of them", len(tile_ids), len(ids))
    web_map = build_web_map(
        table, ids, ks, final_k, palette, thumbnail_px, basemap, low_confidence, folder.name
    )
    save_web_map(web_map, output, thumbnail_files(tiles, ids, thumbnail_px))
    log.info(
        "wrote %s (%.1f MB) and %s/ (%d popup chunks, %d thumbnails)",
        output,
        len(web_map.page.encode()) / 1e6,
        folder,
        len(web_map.files),
        len(ids),
    )
