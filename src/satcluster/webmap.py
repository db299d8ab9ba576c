"""Interactive map (results/map.html): tiles coloured by cluster, one layer per k, popups.

The page works offline and from a single file: Leaflet's JavaScript and CSS
are inlined (from the ``django-js-lib-leaflet`` wheel, which ships the
official Leaflet 1.9.4 build under its BSD-2 licence) instead of folium's CDN
links, and there is no basemap unless asked for.

Size: the tiles are stored once (GeoJSON in EPSG:4326, compact properties) and
every k layer is built from them in the browser when first shown. Thumbnails
are JPEG (a 96 px demo tile is ~2.6 KB as JPEG against ~14 KB as PNG) and are
embedded for at most ``max_thumbnails`` tiles, a fixed random sample when the
city has more, so a city of 10^5 tiles stays a map of tens of MB. The map is
meant for cities up to ~10^5 tiles; beyond that use the GeoJSON in a GIS.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element, MacroElement
from folium.map import Layer
from jinja2 import Template
from PIL import Image
from tqdm import tqdm

from satcluster.errors import InputError
from satcluster.figures.common import COVARIATES, available_columns, cluster_names, cluster_shares
from satcluster.figures.palette import cluster_colors
from satcluster.io import atomic_path, require_file

log = logging.getLogger(__name__)

THUMBNAIL_QUALITY = 85
SAMPLE_SEED = 0
COORDINATE_DECIMALS = 6  # ~0.1 m in EPSG:4326
VALUE_DECIMALS = 3


# --- Leaflet, inlined ---------------------------------------------------------------------
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


# --- data -----------------------------------------------------------------------------
def thumbnail_data_uri(tile: np.ndarray, size_px: int) -> str:
    """A tile as a JPEG data URI of ``size_px`` x ``size_px``."""
    image = Image.fromarray(np.asarray(tile, dtype=np.uint8))
    if image.size != (size_px, size_px):
        image = image.resize((size_px, size_px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def thumbnail_ids(tile_ids: np.ndarray, max_thumbnails: int) -> np.ndarray:
    """Tile ids that get a thumbnail: all, or a fixed random sample of ``max_thumbnails``."""
    if len(tile_ids) <= max_thumbnails:
        return np.sort(tile_ids)
    rng = np.random.default_rng(SAMPLE_SEED)
    return np.sort(rng.choice(np.sort(tile_ids), max_thumbnails, replace=False))


def thumbnails(tiles: np.ndarray, ids: np.ndarray, size_px: int) -> dict[int, str]:
    """tile_id -> thumbnail data URI for ``ids`` (read from the memory-mapped tile array)."""
    return {
        int(tile_id): thumbnail_data_uri(tiles[tile_id], size_px)
        for tile_id in tqdm(ids, desc="thumbnails", unit="tile", mininterval=5)
    }


def _rounded(values: np.ndarray, decimals: int) -> list:
    """Values rounded for JSON, NaN as null."""
    values = np.round(np.asarray(values, dtype=float), decimals)
    return [None if np.isnan(v) else (int(v) if v.is_integer() else float(v)) for v in values]


def tile_features(tiles: gpd.GeoDataFrame, ks: Sequence[int], covariates: Sequence[str]) -> dict:
    """GeoJSON FeatureCollection in EPSG:4326 with compact properties.

    Properties: ``t`` tile_id, ``s`` scene, ``r``/``c`` row/col, ``k`` labels in the
    order of ``ks``, ``v`` covariate values in the order of ``covariates`` (null: no value).
    """
    geographic = tiles.geometry.to_crs("EPSG:4326") if tiles.crs is not None else tiles.geometry
    rings = shapely.get_exterior_ring(geographic.values)
    coords, index = shapely.get_coordinates(rings, return_index=True)
    coords = np.round(coords, COORDINATE_DECIMALS)
    polygons = np.split(coords, np.flatnonzero(np.diff(index)) + 1)
    labels = np.column_stack([tiles[f"label_k{k}"].to_numpy(np.int64) for k in ks]).tolist()
    values = (
        list(zip(*(_rounded(tiles[c], VALUE_DECIMALS) for c in covariates), strict=True))
        if covariates
        else [()] * len(tiles)
    )
    scenes = tiles["scene"].astype(str).tolist() if "scene" in tiles else [""] * len(tiles)
    rows = tiles["row"].tolist() if "row" in tiles else [None] * len(tiles)
    cols = tiles["col"].tolist() if "col" in tiles else [None] * len(tiles)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [polygon.tolist()]},
            "properties": {"t": tid, "s": scene, "r": row, "c": col, "k": k, "v": list(v)},
        }
        for tid, polygon, scene, row, col, k, v in zip(
            tiles["tile_id"].tolist(), polygons, scenes, rows, cols, labels, values, strict=True
        )
    ]
    return {"type": "FeatureCollection", "features": features}


def _script(variables: dict) -> str:
    """``var name = <json>;`` lines, safe inside an inline <script>."""
    lines = [
        f"var {name} = {json.dumps(value, separators=(',', ':'))};"
        for name, value in variables.items()
    ]
    return "\n".join(lines).replace("</", "<\\/")


# --- map elements ---------------------------------------------------------------------
# Shared JavaScript: style of a k layer, popups built on click, a legend following the layer.
MAP_JS = """
function satclusterStyle(kIndex) {
  var colors = satclusterMeta.colors[kIndex];
  return function (feature) {
    return {fillColor: colors[feature.properties.k[kIndex]], fillOpacity: 0.75, stroke: false};
  };
}
function satclusterFormat(value) {
  if (value === null || value === undefined) { return "N.A."; }
  return value.toLocaleString("en", {maximumFractionDigits: Math.abs(value) < 10 ? 3 : 1});
}
function satclusterEscape(text) {
  return String(text).replace(/[&<>"]/g, function (ch) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[ch];
  });
}
function satclusterPopup(feature) {
  var p = feature.properties, meta = satclusterMeta;
  var html = "<div class='satcluster-popup'><b>tile " + p.t + "</b>";
  if (p.s) { html += " · " + satclusterEscape(p.s) + " row " + p.r + ", col " + p.c; }
  var finalLabel = p.k[meta.finalIndex];
  html += "<br>cluster <b>" + satclusterEscape(meta.names[finalLabel]) + "</b> (k = " +
    meta.ks[meta.finalIndex] + ")<br>";
  html += meta.ks.map(function (k, i) { return "k" + k + ": " + p.k[i]; }).join(", ");
  var thumb = satclusterThumbs[p.t];
  if (thumb) {
    html += "<br><img src='" + thumb + "' width='" + meta.thumbnailPx + "' height='" +
      meta.thumbnailPx + "' alt='tile " + p.t + "'>";
  } else {
    html += "<br><i>no thumbnail embedded for this tile (figures.map_max_thumbnails)</i>";
  }
  html += "<table>";
  meta.covariates.forEach(function (label, i) {
    html += "<tr><td>" + satclusterEscape(label) + "</td><td>" + satclusterFormat(p.v[i]) +
      "</td></tr>";
  });
  return html + "</table></div>";
}
function satclusterLayer(kIndex) {
  // Features are created when the layer is first shown: one k at a time stays light.
  var layer = L.geoJSON(null, {
    style: satclusterStyle(kIndex),
    onEachFeature: function (feature, path) { path.bindPopup(function () { return satclusterPopup(feature); }, {maxWidth: 420}); }
  });
  layer.once("add", function () { layer.addData(satclusterData); });
  return layer;
}
function satclusterLegend(map, initialIndex) {
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () {
    this._div = L.DomUtil.create("div", "satcluster-legend");
    this.show(initialIndex);
    return this._div;
  };
  legend.show = function (kIndex) {
    var meta = satclusterMeta, k = meta.ks[kIndex];
    var html = "<b>clusters, k = " + k + "</b>";
    for (var i = 0; i < k; i++) {
      var name = "cluster " + i;
      if (kIndex === meta.finalIndex && meta.names[i] !== name) { name = i + " · " + meta.names[i]; }
      html += "<div class='satcluster-entry'><span class='satcluster-swatch' style='background:" +
        meta.colors[kIndex][i] + "'></span>" + satclusterEscape(name) + " (" +
        (100 * meta.shares[kIndex][i]).toFixed(1) + "%)</div>";
    }
    this._div.innerHTML = html;
  };
  legend.addTo(map);
  map.on("baselayerchange", function (event) {
    var kIndex = satclusterMeta.layerNames.indexOf(event.name);
    if (kIndex >= 0) { legend.show(kIndex); }
  });
  return legend;
}
"""

MAP_CSS = """
.satcluster-legend { background: rgba(255,255,255,0.92); padding: 6px 8px; font: 12px/1.4 sans-serif;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.3); max-height: 60vh; overflow-y: auto; }
.satcluster-swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px;
  vertical-align: middle; border: 1px solid #555; }
.satcluster-popup table { border-collapse: collapse; margin-top: 4px; font-size: 11px; }
.satcluster-popup td { padding: 1px 6px 1px 0; border-bottom: 1px solid #eee; }
.satcluster-popup img { display: block; margin-top: 4px; image-rendering: auto; }
"""


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
) -> folium.Map:
    """The folium map: data and Leaflet inlined, one base layer per k, a legend, no CDN."""
    ks = sorted(ks)
    final_index = ks.index(final_k)
    covariates = [c for c in COVARIATES if c in tiles]
    names = cluster_names(tiles, final_k)
    meta = {
        "ks": ks,
        "finalIndex": final_index,
        "colors": [cluster_colors(k, palette) for k in ks],
        "shares": [
            cluster_shares(tiles[f"label_k{k}"].to_numpy(), k).round(4).tolist() for k in ks
        ],
        "names": names,
        "layerNames": [layer_name(k, final_k) for k in ks],
        "covariates": [COVARIATES[c][1] for c in covariates],
        "thumbnailPx": thumbnail_px,
    }
    script, css = leaflet_assets()
    west, south, east, north = tiles.geometry.to_crs("EPSG:4326").total_bounds
    web_map = OfflineMap(
        location=[(south + north) / 2, (west + east) / 2],
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
        zoom_start=15,
    )
    header = web_map.get_root().header
    header.add_child(RawHTML(f"<style>{css}\n{MAP_CSS}</style>"), name="leaflet_css")
    header.add_child(RawHTML(f"<script>{script}</script>"), name="leaflet_js")
    data = _script(
        {
            "satclusterMeta": meta,
            "satclusterThumbs": {str(k): v for k, v in thumbs.items()},
            "satclusterData": tile_features(tiles, ks, covariates),
        }
    )
    header.add_child(RawHTML(f"<script>{data}\n{MAP_JS}</script>"), name="satcluster_data")
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
    required = ["tile_id", "cluster", "geometry", *(f"label_k{k}" for k in ks)]
    optional = ["scene", "row", "col", "cluster_name", *COVARIATES]
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
) -> None:
    """Read the cluster table and tile array, build the map and write it atomically."""
    table = read_map_table(table_path, ks)
    tiles = np.load(require_file(tiles_path, "tile array"), mmap_mode="r")
    tile_ids = table["tile_id"].to_numpy(np.int64)
    if tiles.ndim != 4 or (len(tile_ids) and tile_ids.max() >= len(tiles)):
        raise InputError(
            f"{tiles_path} (shape {tiles.shape}) does not hold every tile of {table_path}; "
            "rerun the tiles stage and everything after it."
        )
    ids = thumbnail_ids(tile_ids, max_thumbnails)
    log.info("%d tiles, thumbnails for %d of them", len(tile_ids), len(ids))
    web_map = build_web_map(
        table, thumbnails(tiles, ids, thumbnail_px), ks, final_k, palette, thumbnail_px, basemap
    )
    html = web_map.get_root().render()
    with atomic_path(output) as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("wrote %s (%.1f MB)", output, len(html.encode()) / 1e6)
