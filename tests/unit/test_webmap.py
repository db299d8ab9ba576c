"""The interactive map: an offline page with a layer per k drawn from compact arrays, and
a folder beside it with the popups' data and thumbnails, written together or not at all.
In a real headless Chromium: tests/workflow/test_web_map_in_chromium.py."""

from __future__ import annotations

import io
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from PIL import Image

from satcluster.errors import InputError
from satcluster.figures import web_map_data
from satcluster.figures.common import COVARIATES
from satcluster.figures.web_map import build_web_map, leaflet_assets, write_web_map
from satcluster.figures.web_map_data import (
    MAX_ERROR_PX,
    MAX_ZOOM,
    interpolate,
    map_grid,
    mercator,
    thumbnail_ids,
    thumbnail_jpeg,
)
from satcluster.io import OutputWriteError
from tests.harness.web_map_checks import check_map, external_resources, read_map
from tests.harness.web_map_inputs import (
    FINAL_K,
    KS,
    NAMES,
    SIDE,
    X0,
    Y0,
    grid_table,
    make_table,
    make_tiles,
    write,
)

COVARIATE_COLUMNS = ["building_count", "building_orientation_deg", "ndvi_mean"]


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def web_map(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("webmap"))


# --- the page and its folder ---------------------------------------------------------------
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
    for name, content in files_of(web_map.with_name("map_files")).items():
        if name.endswith(".js"):  # data only: no URL, no markup
            assert b"//" not in content and b"<" not in content, name


def test_map_has_one_base_layer_per_k_and_shows_the_final_k(web_map):
    html = web_map.read_text()
    assert '"k = 2" :' in html and '"k = 4 (final)" :' in html
    assert html.count("= satclusterLayer(") == len(KS)
    assert "satclusterLegend(" in html


def test_map_content_layers_legend_popups_tiles_thumbnails(web_map):
    content = check_map(
        web_map.read_text(),
        KS,
        FINAL_K,
        n_tiles=SIDE * SIDE,
        covariates=[COVARIATES[c][1] for c in COVARIATE_COLUMNS],
        n_thumbnails=SIDE * SIDE,
        folder=web_map.with_name("map_files"),
    )
    assert content.meta["names"] == NAMES
    assert content.meta["shares"] == [[0.5, 0.5], [0.25, 0.25, 0.25, 0.25]]
    assert content.records[0] == {
        "t": 0,
        "s": "scene_0",
        "r": 0,
        "c": 0,
        "v": [7, 12.346, 0.25],
        "h": 1,
    }
    water = content.records[SIDE * SIDE - SIDE]  # bottom-left quadrant: cluster 2, no buildings
    assert water["v"] == [0, None, 0.25]
    assert content.low is None  # no confidence column: nothing fades


def test_map_checks_catch_what_a_browser_would_fetch():
    assert external_resources('<script src="https://cdn.example/leaflet.js"></script>')
    assert external_resources('<link rel="stylesheet" href="leaflet.css">')
    assert external_resources("<style>a { background: url(https://x.org/i.png) }</style>")
    assert external_resources('<img src="//x.org/i.png">')
    assert not external_resources('<img src="data:image/jpeg;base64,AAAA">')
    assert not external_resources('<a href="https://leafletjs.com">Leaflet</a>')


def test_page_and_folder_are_the_same_bytes_for_the_same_input(tmp_path):
    first, second = write(tmp_path / "a"), write(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    files = files_of(first.with_name("map_files"))
    assert len(files) == SIDE * SIDE + 1  # the thumbnails and one popup chunk
    assert files == files_of(second.with_name("map_files"))
    table = make_table(tmp_path / "t.parquet")
    again = [build_web_map(table, [3], KS, FINAL_K, "tab10", 32, False) for _ in range(2)]
    assert again[0] == again[1]


def test_optional_basemap_is_an_overlay(tmp_path):
    table = make_table(tmp_path / "t.parquet")
    html = build_web_map(table, [], KS, FINAL_K, "tab10", 32, True).page
    assert "tile.openstreetmap.org" in html
    assert '"OpenStreetMap (online)" :' in html


def test_tiles_are_cells_of_the_grid_with_their_labels(tmp_path):
    table = make_table(tmp_path / "t.parquet").iloc[::-1]  # any order: the table's is kept
    content = read_map(build_web_map(table, [], KS, FINAL_K, "tab10", 32, False).page)
    assert content.cells.tolist() == table[["col", "row"]].to_numpy().tolist()
    assert content.labels.tolist() == [table["label_k2"].tolist(), table["label_k4"].tolist()]
    south, west, north, east = map_grid(table).bounds
    assert -0.5 < west < east < 0 and 5 < south < north < 6  # Accra


def exact_world(table: gpd.GeoDataFrame) -> np.ndarray:
    """Every tile's 4 corners (lower-left first, counter-clockwise on the ground) in Leaflet's
    world coordinates at zoom 0 / 256, from the slippy-map formulas, not the library's."""
    rings = shapely.get_coordinates(shapely.get_exterior_ring(table.to_crs("EPSG:4326").geometry))
    lng, lat = rings.reshape(len(table), 5, 2)[:, :4].transpose(2, 0, 1)
    phi = np.radians(lat)
    return np.stack([(lng + 180) / 360, (1 - np.log(np.tan(phi) + 1 / np.cos(phi)) / np.pi) / 2])


@pytest.mark.parametrize(
    ("crs", "x0", "y0", "coarsest"),
    [
        ("EPSG:32630", X0, Y0, True),  # Accra, 5.6 deg N: the coarsest lattice is exact enough
        ("EPSG:32633", 650_000.0, 7_740_000.0, False),  # Tromso, 69.7 deg N: a finer one
    ],
)
def test_drawn_corners_are_within_a_twentieth_of_a_pixel_at_the_highest_zoom(crs, x0, y0, coarsest):
    table = grid_table(160, crs=crs, x0=x0, y0=y0)  # 5 km square
    grid = map_grid(table)
    assert (grid.step == 32) == coarsest
    columns, rows = grid.columns[:, None], grid.rows[:, None]
    # ring order of shapely.box: (maxx, miny), (maxx, maxy), (minx, maxy), (minx, miny)
    node_x, node_y = columns + [1, 1, 0, 0], rows + [1, 0, 0, 1]
    drawn = np.stack(interpolate(*mercator(grid.lat, grid.lng), grid.step, node_x, node_y))
    error_px = np.hypot(*(drawn - exact_world(table))).max() * 256 * 2**MAX_ZOOM
    assert error_px <= MAX_ERROR_PX and grid.error_px == pytest.approx(error_px, abs=5e-3)


def test_tiles_off_one_grid_are_a_clear_error(tmp_path):
    table = make_table(tmp_path / "t.parquet")
    shifted = table.copy()
    shifted.loc[3, "geometry"] = shapely.affinity.translate(table.geometry[3], 5, 0)
    with pytest.raises(InputError, match="square cells of one grid"):
        build_web_map(shifted, [], KS, FINAL_K, "tab10", 32, False)


def test_thumbnails_are_sampled_deterministically_and_sized():
    ids = np.arange(50)[::-1]
    assert thumbnail_ids(ids, 100).tolist() == list(range(50))
    sample = thumbnail_ids(ids, 10)
    assert len(sample) == 10 and (sample == thumbnail_ids(ids[::-1], 10)).all()
    tile = np.zeros((16, 16, 3), np.uint8)
    tile[:8] = 255
    image = np.asarray(Image.open(io.BytesIO(thumbnail_jpeg(tile, 32))))
    assert image.shape == (32, 32, 3)
    assert image[:12].mean() > 240 and image[20:].mean() < 15


def test_map_thumbnails_are_files_beside_the_page(web_map):
    thumbnails = sorted((web_map.parent / "map_files" / "thumbnails").iterdir())
    assert [p.name for p in thumbnails] == sorted(f"{t}.jpg" for t in range(SIDE * SIDE))
    assert Image.open(thumbnails[0]).size == (32, 32)
    assert "data:image/jpeg" not in web_map.read_text()


def test_many_tiles_stay_within_a_size_budget(tmp_path):
    """Bytes per tile of the page and of the popup chunks: the page of 10^5 tiles fits 10 MB."""
    small = grid_table(SIDE).assign(cluster_confidence=0.5)
    large = grid_table(150).assign(cluster_confidence=0.5)  # 22,500 tiles
    sizes = [build_web_map(t, [], KS, FINAL_K, "tab10", 32, False) for t in (small, large)]
    page_per_tile = (len(sizes[1].page) - len(sizes[0].page)) / (len(large) - len(small))
    # base64 of 4 bytes of cell, 1 a k, 1 of fading: 9.3; at 10^5 tiles and 6 ks, 1.5 MB
    assert page_per_tile <= 9.5
    assert len(sizes[1].page) < 1_000_000
    chunk_bytes = sum(len(b) for b in sizes[1].files.values())
    assert chunk_bytes / len(large) <= 70  # id, scene, row, col, 3 covariates, confidence


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet", "tiles.npy"]


# --- written together or not at all --------------------------------------------------------
def failing_after(calls: int):
    """thumbnail_jpeg that fails on call ``calls`` + 1 (a disk or a tile read failing)."""
    count = [0]

    def thumbnail(tile, size_px):
        count[0] += 1
        if count[0] > calls:
            raise RuntimeError("thumbnail failed")
        return thumbnail_jpeg(tile, size_px)

    return thumbnail


def test_a_failure_while_writing_leaves_neither_page_nor_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(web_map_data, "thumbnail_jpeg", failing_after(10))
    with pytest.raises(RuntimeError, match="thumbnail failed"):
        write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusters.parquet", "tiles.npy"]


def test_a_failed_rewrite_leaves_the_previous_map(tmp_path, monkeypatch):
    page = write(tmp_path)
    before = page.read_bytes(), files_of(tmp_path / "map_files")
    monkeypatch.setattr(web_map_data, "thumbnail_jpeg", failing_after(10))
    with pytest.raises(RuntimeError):
        write(tmp_path, thumbnail_px=24)
    monkeypatch.undo()
    # the page's own rename fails after the new folder is in place: the old one comes back
    replace = os.replace

    def refuse_page(src, dst):
        if Path(dst) == page:
            raise PermissionError(13, "Permission denied", str(dst))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", refuse_page)
    with pytest.raises(OutputWriteError, match="map.html"):
        write(tmp_path, thumbnail_px=24)
    assert (page.read_bytes(), files_of(tmp_path / "map_files")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clusters.parquet",
        "map.html",
        "map_files",
        "tiles.npy",
    ]


def test_a_rewrite_replaces_the_folder_and_clears_a_killed_writers_leftovers(tmp_path):
    page = write(tmp_path)
    (tmp_path / "map_files" / "stale.txt").write_text("from an older map")
    leftover = tmp_path / ".map_files.abcd1234.tmp"
    (leftover / "thumbnails").mkdir(parents=True)
    write(tmp_path, thumbnail_px=24)
    assert not leftover.exists() and not (tmp_path / "map_files" / "stale.txt").exists()
    thumbnail = tmp_path / "map_files" / "thumbnails" / "0.jpg"
    assert Image.open(thumbnail).size == (24, 24) and page.is_file()


def test_the_folder_is_named_by_the_caller_beside_the_page(tmp_path):
    page = write(tmp_path, "city.html", files=tmp_path / "city_data")
    assert "city_data" in read_map(page.read_text()).meta["files"]
    assert (tmp_path / "city_data" / "popups" / "0.js").is_file()
    with pytest.raises(ValueError, match="beside"):
        write(tmp_path, "city.html", files=tmp_path / "elsewhere" / "city_data")
