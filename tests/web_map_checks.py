"""Checks of a written map.html's content, shared by test_webmap.py and test_workflow.py.

The page holds its data as three ``var satclusterX = <json>;`` lines (metadata,
thumbnails, tile features); ``read_map`` parses them back and ``check_map``
asserts what a user relies on: one layer per k, the legend, the covariate names
of the popups, one feature per tile, the thumbnails, and nothing loaded from the
network (the page works offline).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

_VARIABLE = re.compile(r"\bvar (satcluster(?:Meta|Thumbs|Data)) = (.*);$", re.MULTILINE)

# What a browser would fetch: script/style/image sources, CSS urls and imports, map tiles.
_EXTERNAL = re.compile(
    r"<script[^>]*\ssrc\s*=|<link\b|<img[^>]*\ssrc\s*=\s*[\"']?(?:https?:)?//"
    r"|url\(\s*[\"']?(?:https?:)?//|@import|\{s\}\.tile\.|tile\.openstreetmap",
    re.IGNORECASE,
)


@dataclass
class MapContent:
    """The data embedded in a map.html."""

    meta: dict  # ks, finalIndex, colors, shares, names, layerNames, covariates, thumbnailPx
    thumbs: dict[str, str]  # tile_id -> JPEG data URI
    features: list[dict]  # GeoJSON features with compact properties t, s, r, c, k, v


def read_map(html: str) -> MapContent:
    """Parse the ``satclusterMeta``, ``satclusterThumbs`` and ``satclusterData`` variables."""
    variables = {name: json.loads(value) for name, value in _VARIABLE.findall(html)}
    missing = {"satclusterMeta", "satclusterThumbs", "satclusterData"} - set(variables)
    assert not missing, f"map.html lacks the variable(s) {sorted(missing)}"
    return MapContent(
        variables["satclusterMeta"],
        variables["satclusterThumbs"],
        variables["satclusterData"]["features"],
    )


def external_resources(html: str) -> list[str]:
    """Everything in the page that a browser would load from elsewhere (should be empty)."""
    return [match.group(0) for match in _EXTERNAL.finditer(html)]


def check_map(
    html: str,
    ks: Sequence[int],
    final_k: int,
    n_tiles: int,
    covariates: Sequence[str],
    n_thumbnails: int,
) -> MapContent:
    """Assert the content of a map without basemap; return what it embeds.

    ``covariates``: the labels the popups must show, in order (``COVARIATES[c][1]``);
    ``n_thumbnails``: how many tiles must have a thumbnail.
    """
    ks = sorted(ks)
    content = read_map(html)
    meta = content.meta
    # One base layer per k, named in the layer control, the final k shown first.
    assert meta["ks"] == ks and ks[meta["finalIndex"]] == final_k
    names = [f"k = {k}" + (" (final)" if k == final_k else "") for k in ks]
    assert meta["layerNames"] == names
    assert html.count("= satclusterLayer(") == len(ks)
    for name in names:
        assert f'"{name}" :' in html, f"layer {name!r} is not in the layer control"
    # The legend: a colour and a share for every cluster of every k, a name per final cluster.
    assert html.count("satclusterLegend(") >= 2  # defined once, added to the map once
    assert [len(colors) for colors in meta["colors"]] == ks
    assert [len(shares) for shares in meta["shares"]] == ks
    for shares in meta["shares"]:
        assert abs(sum(shares) - 1) < 1e-3, shares
    assert len(meta["names"]) == final_k and all(meta["names"])
    # Popups: the covariates' names, and a value (or null) of each for every tile.
    assert meta["covariates"] == list(covariates)
    assert "function satclusterPopup(" in html
    # One feature per tile, with its labels at every k.
    assert len(content.features) == n_tiles
    tile_ids = [feature["properties"]["t"] for feature in content.features]
    assert sorted(tile_ids) == sorted(set(tile_ids))
    for feature in content.features:
        properties = feature["properties"]
        assert len(properties["k"]) == len(ks) and len(properties["v"]) == len(covariates)
        assert all(0 <= label < k for label, k in zip(properties["k"], ks, strict=True))
    # Thumbnails: embedded JPEGs of tiles of the map.
    assert len(content.thumbs) == n_thumbnails
    assert set(content.thumbs) <= {str(t) for t in tile_ids}
    assert all(uri.startswith("data:image/jpeg;base64,") for uri in content.thumbs.values())
    assert html.count("data:image/jpeg;base64,") == n_thumbnails
    # Offline: Leaflet inlined, nothing fetched from the network.
    assert "L.map(" in html
    assert external_resources(html) == []
    return content
