"""Checks of a written map.html (and its folder), shared by the web map tests and test_workflow.py.

The page holds its data as two ``var satclusterX = <json>;`` lines: the metadata and the
tiles (base64 typed arrays); the folder beside it (``map_files/`` for ``map.html``) holds
the popup chunks (``popups/<i>.js``: ``satclusterChunk(<i>, <json>);``) and the thumbnails
(``thumbnails/<tile_id>.jpg``). ``read_map`` parses them back and ``check_map`` asserts
what a user relies on: one layer per k, the legend, the covariate names of the popups,
one entry per tile, the thumbnails, and nothing loaded from the network (the page works
offline).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_VARIABLE = re.compile(r"\bvar (satcluster(?:Meta|Tiles)) = (.*);$", re.MULTILINE)
_CHUNK = re.compile(r"\AsatclusterChunk\((\d+), (.*)\);\n\Z", re.DOTALL)

# What a browser would fetch: script/style/image sources, CSS urls and imports, map tiles.
_EXTERNAL = re.compile(
    r"<script[^>]*\ssrc\s*=|<link\b|<img[^>]*\ssrc\s*=\s*[\"']?(?:https?:)?//"
    r"|url\(\s*[\"']?(?:https?:)?//|@import|\{s\}\.tile\.|tile\.openstreetmap",
    re.IGNORECASE,
)


@dataclass
class MapContent:
    """The data of a map.html and, when read, of its folder."""

    meta: dict  # ks, finalIndex, colors, shares, names, layerNames, covariates, lattice, ...
    cells: np.ndarray  # n x 2: grid column, row of every tile
    labels: np.ndarray  # len(ks) x n
    low: np.ndarray | None  # n: 1 where the tile is faded at the final k (with confidence)
    records: list[dict] = field(default_factory=list)  # per tile: t, s, r, c, v, h (, q)
    thumbnails: dict[int, bytes] = field(default_factory=dict)  # tile_id -> JPEG


def _array(tiles: dict, name: str, itemsize: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(tiles[name]), dtype=f"<u{itemsize}")


def read_map(html: str, folder: Path | None = None) -> MapContent:
    """Parse ``satclusterMeta`` and ``satclusterTiles``, and the folder's files if given."""
    variables = {name: json.loads(value) for name, value in _VARIABLE.findall(html)}
    missing = {"satclusterMeta", "satclusterTiles"} - set(variables)
    assert not missing, f"map.html lacks the variable(s) {sorted(missing)}"
    meta, tiles = variables["satclusterMeta"], variables["satclusterTiles"]
    n = tiles["n"]
    content = MapContent(
        meta,
        _array(tiles, "cells", tiles["cellBytes"]).reshape(n, 2),
        _array(tiles, "labels", tiles["labelBytes"]).reshape(len(meta["ks"]), n),
        _array(tiles, "low", 1) if "low" in tiles else None,
    )
    if folder is not None:
        content.records = read_records(folder, n, meta["chunkTiles"])
        content.thumbnails = {
            int(path.stem): path.read_bytes() for path in (folder / "thumbnails").glob("*")
        }
    return content


def read_records(folder: Path, n: int, chunk_tiles: int) -> list[dict]:
    """The popup data of every tile, from the chunk scripts ``popups/<i>.js``, in tile order."""
    chunks = sorted((folder / "popups").glob("*.js"), key=lambda p: int(p.stem))
    assert [int(p.stem) for p in chunks] == list(range(-(-n // chunk_tiles)))
    records = []
    for path in chunks:
        match = _CHUNK.match(path.read_text())
        assert match and int(match.group(1)) == int(path.stem), f"{path} is not a chunk script"
        chunk = json.loads(match.group(2))
        keys = list(chunk)
        records += [dict(zip(keys, row, strict=True)) for row in zip(*chunk.values(), strict=True)]
    return records


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
    folder: Path | None = None,
) -> MapContent:
    """Assert the content of a map without basemap (and of its folder, if given); return it.

    ``covariates``: the labels the popups must show, in order (``COVARIATES[c][1]``);
    ``n_thumbnails``: how many tiles must have a thumbnail.
    """
    ks = sorted(ks)
    content = read_map(html, folder)
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
    # Popups: the covariates' names.
    assert meta["covariates"] == list(covariates)
    assert "function satclusterPopup(" in html
    # One cell per tile, each once, with its labels at every k.
    assert content.cells.shape == (n_tiles, 2)
    assert len(np.unique(content.cells, axis=0)) == n_tiles
    for labels, k in zip(content.labels, ks, strict=True):
        assert labels.max(initial=0) < k
    # Thumbnails: files beside the page, none inlined.
    assert meta["thumbnails"] == n_thumbnails
    assert "data:image/jpeg" not in html
    if folder is not None:
        check_folder(content, n_tiles, len(covariates), n_thumbnails)
    # Offline: Leaflet inlined, nothing fetched from the network.
    assert "L.map(" in html
    assert external_resources(html) == []
    return content


def check_folder(content: MapContent, n_tiles: int, n_covariates: int, n_thumbnails: int) -> None:
    """Popup data for every tile, a covariate value (or null) of each, the thumbnails' JPEGs."""
    records = content.records
    assert len(records) == n_tiles
    tile_ids = [record["t"] for record in records]
    assert len(set(tile_ids)) == n_tiles
    assert all(len(record["v"]) == n_covariates for record in records)
    with_thumbnail = {record["t"] for record in records if record["h"] == 1}
    assert len(content.thumbnails) == n_thumbnails
    assert set(content.thumbnails) == with_thumbnail
    assert all(jpeg[:3] == b"\xff\xd8\xff" for jpeg in content.thumbnails.values())
