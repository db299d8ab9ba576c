"""Interactive map (results/map.html): tiles coloured by cluster, one layer per k, popups.

The page works offline and from a single file: Leaflet's JavaScript and CSS
are inlined (from the ``django-js-lib-leaflet`` wheel, which ships the
official Leaflet 1.9.4 build under its BSD-2 licence) instead of folium's CDN
links, and there is no basemap unless asked for. The map's own script (layers,
popups, legend) and style are ``assets/web_map.js`` and ``assets/web_map.css``;
the data it shows is prepared by ``figures.web_map_data``.

Size: the tiles are stored once (GeoJSON in EPSG:4326, compact properties) and
every k layer is built from them in the browser when first shown. Thumbnails
are JPEG (a 96 px demo tile is ~2.6 KB as JPEG against ~14 KB as PNG) and are
embedded for at most ``max_thumbnails`` tiles, a fixed random sample when the
city has more, so a city of 10^5 tiles stays a map of tens of MB. The map is
meant for cities up to ~10^5 tiles; beyond that use the GeoJSON in a GIS.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
from branca.element import Element, MacroElement
from folium.map import Layer
from jinja2 import Template

from satcluster.columns import label_column
from satcluster.errors import InputError
from satcluster.figures.cluster_confidence import (
    CONFIDENCE_COLUMN,
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
    script_variables,
    thumbnail_ids,
    thumbnails,
    tile_features,
)
from satcluster.io import atomic_path

__all__ = ["build_web_map", "leaflet_assets", "map_assets", "read_map_table", "write_web_map"]

log = logging.getLogger(__name__)

FADED_OPACITY = 0.25  # fill opacity of low-confidence tiles (others: 0.75, in web_map.js)


# --- JavaScript and CSS, inlined -------------------------------------------------------
def leaflet_assets() -> tuple[str, str]:
    """(leaflet.js, leaflet.css with its images as data URIs) from the installed wheel."""
    try:
        static = resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
        script = (static / "leaflet.js").read_text(encoding="utf-8")
        css = (static / "leaflet.css").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise InputError(
            "the web map needs Leaflet's files from the Python package django-js-lib-leaflet "
            f"({err}); install the project again (`make install`) or "
            "`pip install django-js-lib-leaflet`."
        ) from None

    def inline_image(match: re.Match) -> str:
        data = (static / "images" / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode()})"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", inline_image, css)
    # A literal "</script>" inside inline JS would end the tag early.
    return script.replace("</script", "<\\/script"), css


def map_assets() -> tuple[str, str]:
    """(web_map.js, web_map.css) from the package: the map's own script and style.

    The script styles a k layer, builds popups on click and keeps the legend on the
    layer shown; it reads the ``satclusterMeta``, ``satclusterThumbs`` and
    ``satclusterData`` variables that ``build_web_map`` writes before it.
    """
    assets = resources.files("satcluster.figures") / "assets"
    script = (assets / "web_map.js").read_text(encoding="utf-8")
    css = (assets / "web_map.css").read_text(encoding="utf-8")
    return script, css


class RawHTML(Element):
    """HTML inserted as is: Element(text) would compile megabytes of data as a Jinja template."""

    def __init__(self, html: str):
        super().__init__()
        self._name = "RawHTML"
        self.html = html

    def render(self, **kwargs) -> str:
        return self.html


class OfflineMap(folium.Map):
    """folium.Map without CDN links: Leaflet is inlined by ``build_web_map``."""

    default_js: list = []
    default_css: list = []


# --- map elements ---------------------------------------------------------------------
class ClusterLayer(Layer):
    """The tiles coloured by their clusters at one k (a base layer of the LayerControl)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = satclusterLayer({{ this.k_index }});
        {% endmacro %}
        """
    )

    def __init__(self, k_index: int, name: str, show: bool):
        super().__init__(name=name, overlay=False, control=True, show=show)
        self._name = "ClusterLayer"
        self.k_index = k_index


class ClusterLegend(MacroElement):
    """Legend of the layer shown (names and shares), updated when the layer changes."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            satclusterLegend({{ this._parent.get_name() }}, {{ this.k_index }});
        {% endmacro %}
        """
    )

    def __init__(self, k_index: int):
        super().__init__()
        self._name = "ClusterLegend"
        self.k_index = k_index


def _deterministic_ids(element: Element, counter: list[int] | None = None) -> None:
    """Replace folium's random element ids by a counter so the same input gives the same file."""
    counter = counter if counter is not None else [0]
    element._id = f"{counter[0]:08x}"
    counter[0] += 1
    for child in element._children.values():
        _deterministic_ids(child, counter)


def confidence_meta(low_confidence: float) -> dict:
    """What web_map.js reads from ``satclusterMeta`` to fade tiles: threshold, opacity, caption."""
    return {
        "lowConfidence": low_confidence,
        "fadedOpacity": FADED_OPACITY,
        "fadedCaption": faded_caption(low_confidence),
    }


def layer_name(k: int, final_k: int) -> str:
    return f"k = {k}" + (" (final)" if k == final_k else "")


def build_web_map(
    tiles: gpd.GeoDataFrame,
    thumbs: dict[int, str],
    ks: Sequence[int],
    final_k: int,
    palette: str,
    thumbnail_px: int,
    basemap: bool,
    low_confidence: float = LOW_CONFIDENCE,
) -> folium.Map:
    """The folium map: data and Leaflet inlined, one base layer per k, a legend, no CDN.

    With a ``cluster_confidence`` column, the final k's tiles below ``low_confidence`` are
    faded and popups show each tile's confidence.
    """
    ks = sorted(ks)
    final_index = ks.index(final_k)
    covariates = [c for c in COVARIATES if c in tiles]
    names = cluster_names(tiles, final_k)
    meta = {
        "ks": ks,
        "finalIndex": final_index,
        "colors": [cluster_colors(k, palette) for k in ks],
        "shares": [
            cluster_shares(tiles[label_column(k)].to_numpy(), k).round(4).tolist() for k in ks
        ],
        "names": names,
        "layerNames": [layer_name(k, final_k) for k in ks],
        "covariates": [COVARIATES[c][1] for c in covariates],
        "thumbnailPx": thumbnail_px,
    }
    script, css = leaflet_assets()
    map_script, map_css = map_assets()
    if CONFIDENCE_COLUMN in tiles:  # web_map.js fades and explains when meta says how
        meta.update(confidence_meta(low_confidence))
    west, south, east, north = tiles.geometry.to_crs("EPSG:4326").total_bounds
    web_map = OfflineMap(
        location=[(south + north) / 2, (west + east) / 2],
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
        zoom_start=15,
    )
    header = web_map.get_root().header
    header.add_child(RawHTML(f"<style>{css}\n\n{map_css}</style>"), name="leaflet_css")
    header.add_child(RawHTML(f"<script>{script}</script>"), name="leaflet_js")
    data = script_variables(
        {
            "satclusterMeta": meta,
            "satclusterThumbs": {str(k): v for k, v in thumbs.items()},
            "satclusterData": tile_features(tiles, ks, covariates),
        }
    )
    header.add_child(RawHTML(f"<script>{data}\n\n{map_script}</script>"), name="satcluster_data")
    if basemap:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap (online)", overlay=True).add_to(
            web_map
        )
    for index, k in enumerate(ks):
        ClusterLayer(index, layer_name(k, final_k), show=index == final_index).add_to(web_map)
    ClusterLegend(final_index).add_to(web_map)
    folium.LayerControl(collapsed=False).add_to(web_map)
    web_map.fit_bounds([[south, west], [north, east]])
    _deterministic_ids(web_map.get_root())
    return web_map


def read_map_table(path: str | Path, ks: Sequence[int]) -> gpd.GeoDataFrame:
    """The cluster GeoParquet's columns the map shows (label columns of every k required)."""
    required = ["tile_id", "cluster", "geometry", *(label_column(k) for k in ks)]
    optional = ["scene", "row", "col", "cluster_name", CONFIDENCE_COLUMN, *COVARIATES]
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
) -> None:
    """Read the cluster table and tile array, build the map and write it atomically."""
    table = read_map_table(table_path, ks)
    tile_ids = table["tile_id"].to_numpy(np.int64)
    tiles = load_tile_array(tiles_path, tile_ids, table_path)
    ids = thumbnail_ids(tile_ids, max_thumbnails)
    log.info("%d tiles, thumbnails for %d of them", len(tile_ids), len(ids))
    web_map = build_web_map(
        table,
        thumbnails(tiles, ids, thumbnail_px),
        ks,
        final_k,
        palette,
        thumbnail_px,
        basemap,
        low_confidence,
    )
    html = web_map.get_root().render()
    with atomic_path(output) as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("wrote %s (%.1f MB)", output, len(html.encode()) / 1e6)
