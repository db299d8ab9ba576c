"""The demo city's ancillary products in the real products' formats.

Buildings (GeoPackage, EPSG:4326), OpenStreetMap roads (.osm XML), WorldPop-style
people per pixel (GeoTIFF, EPSG:4326, 3 arc-seconds), Landsat 8 Collection 2 Level-2
SR_B4 / SR_B5 / QA_PIXEL (GeoTIFF, 30 m) and the planted truth. The Landsat bands and
the truth are in the city's CRS (``layout.frame.crs``, EPSG:32630 by default); the
lon/lat products are converted from it.
"""

from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.features import rasterize
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from satcluster.demo.layout import WATER, CityLayout, road_polygons

__all__ = [
    "LANDSAT_NAMES",
    "POPULATION_NODATA",
    "landsat_grid",
    "landsat_reflectance",
    "population_grid",
    "write_buildings",
    "write_landsat",
    "write_osm",
    "write_population",
    "write_truth",
]

# --- buildings and truth -----------------------------------------------------------------

N_INVALID_BUILDINGS = 2


def write_buildings(layout: CityLayout, path: Path, rng: np.random.Generator) -> None:
    """Footprints in EPSG:4326 with Google Open Buildings-like columns.

    Two footprints are written as self-intersecting bow-ties (two corners swapped),
    as found in real footprint files, so that loaders must repair them.
    """
    buildings = layout.buildings
    geoms = buildings.geometry.to_numpy().copy()
    for i in rng.choice(len(geoms), size=min(N_INVALID_BUILDINGS, len(geoms)), replace=False):
        ring = shapely.get_coordinates(geoms[i])
        geoms[i] = shapely.Polygon(ring[[0, 1, 3, 2, 0]])
    table = gpd.GeoDataFrame(
        {
            "area_in_meters": np.round(shapely.area(buildings.geometry.to_numpy()), 2),
            "confidence": buildings.confidence.to_numpy(),
        },
        geometry=geoms,
        crs=layout.frame.crs,
    ).to_crs("EPSG:4326")
    table.to_file(path, layer="buildings", driver="GPKG")


def write_truth(layout: CityLayout, path: Path) -> None:
    """District polygons with their planted phenotype (in the city's CRS)."""
    truth = layout.districts[["district_id", "phenotype", "phenotype_name", "geometry"]]
    truth.to_file(path, layer="truth", driver="GPKG")


# --- OpenStreetMap -----------------------------------------------------------------------


def write_osm(layout: CityLayout, path: Path) -> None:
    """Roads, the railway and one building outline as OSM 0.6 XML in lon/lat.

    Ways that cross share a node at the crossing, as in OSM.
    """
    lines = layout.roads.geometry.to_numpy()
    tags = [
        {"highway": h} if isinstance(h, str) else {"railway": "rail"} for h in layout.roads.highway
    ]
    sequences = _noded_sequences(lines)
    if len(layout.buildings):  # phenotype_shares may leave out every built phenotype
        outline = shapely.get_coordinates(layout.buildings.geometry.iloc[0].exterior)
        sequences.append(outline)
        tags.append({"building": "yes"})
    crs = layout.frame.crs
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    node_ids: dict[tuple[int, int], int] = {}
    ways = []
    for coords in sequences:
        refs = []
        for x, y in coords:
            key = (round(x * 100), round(y * 100))  # centimetres
            refs.append(node_ids.setdefault(key, len(node_ids) + 1))
        ways.append([r for k, r in enumerate(refs) if k == 0 or r != refs[k - 1]])
    keys = np.array(list(node_ids), dtype=np.float64) / 100.0
    lon, lat = to_lonlat.transform(keys[:, 0], keys[:, 1])
    west, south, east, north = transform_bounds(crs, "EPSG:4326", *layout.frame.bounds)
    with open(path, "w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write('<osm version="0.6" generator="satcluster demo city">\n')
        out.write(
            f'  <bounds minlat="{south:.7f}" minlon="{west:.7f}" '
            f'maxlat="{north:.7f}" maxlon="{east:.7f}"/>\n'
        )
        for node_id, (x, y) in enumerate(zip(lon, lat, strict=True), start=1):
            out.write(f'  <node id="{node_id}" version="1" lat="{y:.7f}" lon="{x:.7f}"/>\n')
        for way_id, (refs, way_tags) in enumerate(zip(ways, tags, strict=True), start=1):
            out.write(f'  <way id="{way_id}" version="1">\n')
            out.writelines(f'    <nd ref="{r}"/>\n' for r in refs)
            out.writelines(
                f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>\n" for k, v in way_tags.items()
            )
            out.write("  </way>\n")
        out.write("</osm>\n")


def _noded_sequences(lines: np.ndarray) -> list[np.ndarray]:
    """Each line's vertices plus its crossings with the other lines, in order along it."""
    extra: list[list[np.ndarray]] = [[] for _ in lines]
    left, right = shapely.STRtree(lines).query(lines, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    crossings = shapely.intersection(lines[left], lines[right])
    for i, j, geom in zip(left, right, crossings, strict=True):
        points = shapely.get_coordinates(geom)
        extra[i].append(points)
        extra[j].append(points)
    sequences = []
    for line, points in zip(lines, extra, strict=True):
        coords = shapely.get_coordinates(line)
        if points:
            coords = np.vstack([coords, *points])
        along = shapely.line_locate_point(line, shapely.points(coords))
        sequences.append(coords[np.argsort(along, kind="stable")])
    return sequences


# --- population --------------------------------------------------------------------------

POPULATION_NODATA = -99999.0
ARCSEC3 = 1.0 / 1200.0
# People per square metre of building footprint, by district phenotype.
OCCUPANCY = {0: 1 / 12, 1: 1 / 12, 2: 1 / 20, 4: 1 / 30}


def population_grid(layout: CityLayout) -> tuple[int, int, rasterio.Affine]:
    """Width, height and transform of the 3 arc-second grid covering the city + 2 px."""
    bounds = layout.frame.bounds
    west, south, east, north = transform_bounds(layout.frame.crs, "EPSG:4326", *bounds)
    west = math.floor(west * 1200 - 2) / 1200
    south = math.floor(south * 1200 - 2) / 1200
    east = math.ceil(east * 1200 + 2) / 1200
    north = math.ceil(north * 1200 + 2) / 1200
    width = int(round((east - west) * 1200))
    height = int(round((north - south) * 1200))
    return width, height, from_origin(west, north, ARCSEC3, ARCSEC3)


def write_population(layout: CityLayout, path: Path, rng: np.random.Generator) -> None:
    """People per pixel: building footprint area x occupancy, nodata over water.

    Each building counts in the pixel of its centroid; land without buildings gets a
    small rural background. Pixels whose centre lies in the water are nodata, as in
    WorldPop.
    """
    width, height, transform = population_grid(layout)
    buildings = layout.buildings
    area = shapely.area(buildings.geometry.to_numpy())
    occupancy = buildings.phenotype.map(OCCUPANCY).to_numpy()
    people = area * occupancy * rng.lognormal(0.0, 0.2, len(area))
    centroids = buildings.geometry.centroid.to_crs("EPSG:4326")
    col = np.floor((centroids.x.to_numpy() - transform.c) / ARCSEC3).astype(int)
    row = np.floor((transform.f - centroids.y.to_numpy()) / ARCSEC3).astype(int)
    ppp = rng.uniform(0.02, 0.2, (height, width))
    np.add.at(ppp, (row, col), people)
    water = _water_fraction(layout, width, height, transform)
    # WorldPop leaves water nodata; keep at least the wettest pixel so small cities have some.
    ppp[(water >= 0.5) | ((water > 0) & (water == water.max()))] = POPULATION_NODATA
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "width": width,
        "height": height,
        "crs": "EPSG:4326",
        "transform": transform,
        "nodata": POPULATION_NODATA,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(ppp.astype(np.float32), 1)


def _water_fraction(layout: CityLayout, width: int, height: int, transform) -> np.ndarray:
    """Share of each 3 arc-second pixel's area that is water (in metres, the city's CRS)."""
    rows, cols = np.mgrid[0:height, 0:width]
    west = transform.c + cols.ravel() * transform.a
    north = transform.f + rows.ravel() * transform.e
    pixels = gpd.GeoSeries(
        shapely.box(west, north - ARCSEC3, west + ARCSEC3, north), crs="EPSG:4326"
    ).to_crs(layout.frame.crs)
    wet = shapely.area(shapely.intersection(pixels.to_numpy(), layout.water))
    return (wet / pixels.area.to_numpy()).reshape(height, width)


# --- Landsat 8 Collection 2 Level-2 ---------------------------------------------------------

LANDSAT_RES = 30.0
SUBPIXELS = 10  # surfaces are mixed from 3 m sub-pixels
DN_SCALE = 0.0000275
DN_OFFSET = -0.2
# QA_PIXEL values as found in real Collection 2 scenes.
QA_FILL = 1
QA_CLEAR_LAND = 21824  # clear, low confidences
QA_CLEAR_WATER = 21952  # clear + water
QA_DILATED = 21762  # dilated cloud
QA_CLOUD = 22280  # cloud, high confidence
QA_SHADOW = 23888  # cloud shadow, high confidence
# (red, NIR) surface reflectance per surface: phenotype ground 0-7, outside, road, roof.
REFLECTANCE = np.array(
    [
        [0.16, 0.22],  # 0 compacted earth
        [0.16, 0.22],  # 1
        [0.13, 0.21],  # 2 dry grass and soil
        [0.065, 0.21],  # 3 grass (NDVI ~0.53)
        [0.08, 0.22],  # 4 gardens and scattered trees (NDVI ~0.47)
        [0.20, 0.25],  # 5 bare laterite (NDVI ~0.11)
        [0.06, 0.03],  # 6 water (NDVI ~ -0.33)
        [0.025, 0.30],  # 7 dense forest (NDVI ~0.85)
        [0.09, 0.22],  # outside the city: mixed land
        [0.12, 0.14],  # road
        [0.22, 0.26],  # roof
    ]
)
CLOUD_REFLECTANCE = (0.45, 0.48)
LANDSAT_NAMES = ("SR_B4", "SR_B5", "QA_PIXEL")


def landsat_grid(layout: CityLayout) -> tuple[int, int, rasterio.Affine]:
    """A 30 m grid aligned on multiples of 30 m covering the city plus a margin."""
    frame = layout.frame
    margin = max(120.0, round(0.1 * frame.size_m / LANDSAT_RES) * LANDSAT_RES)
    west = math.floor((frame.west - margin) / LANDSAT_RES) * LANDSAT_RES
    south = math.floor((frame.south - margin) / LANDSAT_RES) * LANDSAT_RES
    east = math.ceil((frame.east + margin) / LANDSAT_RES) * LANDSAT_RES
    north = math.ceil((frame.north + margin) / LANDSAT_RES) * LANDSAT_RES
    width = int(round((east - west) / LANDSAT_RES))
    height = int(round((north - south) / LANDSAT_RES))
    return width, height, from_origin(west, north, LANDSAT_RES, LANDSAT_RES)


def landsat_reflectance(
    layout: CityLayout, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Clear-sky (red, NIR) reflectance (2, h, w), mixed from 3 m sub-pixel surfaces."""
    width, height, transform = landsat_grid(layout)
    fine_shape = (height * SUBPIXELS, width * SUBPIXELS)
    fine = transform @ rasterio.Affine.scale(1 / SUBPIXELS)
    districts = layout.districts
    surface = rasterize(
        zip(districts.geometry, districts.phenotype + 1, strict=True),
        out_shape=fine_shape,
        transform=fine,
        fill=0,
        dtype=np.uint8,
    ).astype(np.int64)
    surface = np.where(surface == 0, 9, surface) - 1  # 8 = outside
    roads, _ = road_polygons(layout.roads)
    if len(roads):
        on_road = rasterize(roads, out_shape=fine_shape, transform=fine, dtype=np.uint8)
        surface[on_road > 0] = 9
    if len(layout.buildings):
        geoms = layout.buildings.geometry.to_numpy()
        on_roof = rasterize(geoms, out_shape=fine_shape, transform=fine, dtype=np.uint8)
        surface[on_roof > 0] = 10
    mixed = REFLECTANCE[surface].reshape(height, SUBPIXELS, width, SUBPIXELS, 2).mean(axis=(1, 3))
    mixed *= rng.normal(1.0, 0.03, mixed.shape)
    water_fraction = (surface == WATER).reshape(height, SUBPIXELS, width, SUBPIXELS).mean((1, 3))
    return np.moveaxis(mixed, -1, 0), water_fraction


def write_landsat(
    layout: CityLayout, paths: dict[str, Path], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """SR_B4, SR_B5 and QA_PIXEL with a flagged cloud, its shadow and a fill corner.

    Returns the clear-sky reflectance and the QA array (for tests and checks).
    """
    width, height, transform = landsat_grid(layout)
    clear, water_fraction = landsat_reflectance(layout, rng)
    reflectance = clear.copy()
    qa = np.where(water_fraction > 0.5, QA_CLEAR_WATER, QA_CLEAR_LAND).astype(np.uint16)
    x = transform.c + (np.arange(width) + 0.5) * LANDSAT_RES
    y = transform.f - (np.arange(height) + 0.5) * LANDSAT_RES
    frame = layout.frame
    radius = max(45.0, 0.06 * frame.size_m)
    cx, cy = frame.west + 0.72 * frame.size_m, frame.south + 0.7 * frame.size_m
    dist = np.hypot(x[None, :] - cx, y[:, None] - cy)
    cloud = dist < radius
    dilated = ~cloud & (dist < radius + 2 * LANDSAT_RES)
    shadow_dist = np.hypot(x[None, :] - (cx - 1.2 * radius), y[:, None] - (cy - 1.5 * radius))
    shadow = (shadow_dist < 0.8 * radius) & ~cloud & ~dilated
    haze = np.array(CLOUD_REFLECTANCE)[:, None]
    reflectance[:, cloud] = haze * rng.normal(1.0, 0.02, cloud.sum())
    reflectance[:, dilated] = 0.5 * reflectance[:, dilated] + 0.5 * haze
    reflectance[:, shadow] *= 0.45
    qa[cloud], qa[dilated], qa[shadow] = QA_CLOUD, QA_DILATED, QA_SHADOW
    # The scene edge cuts the north-west corner of the grid (outside the city).
    margin = frame.west - transform.c
    fill = (x[None, :] - transform.c) + (transform.f - y[:, None]) < margin
    dn = np.clip(np.rint((reflectance - DN_OFFSET) / DN_SCALE), 1, 65535).astype(np.uint16)
    dn[:, fill] = 0
    qa[fill] = QA_FILL
    profile = {
        "driver": "GTiff",
        "dtype": "uint16",
        "count": 1,
        "width": width,
        "height": height,
        "crs": frame.crs,
        "transform": transform,
        "compress": "deflate",
    }
    for key, band, nodata in (("red", dn[0], 0), ("nir", dn[1], 0), ("qa", qa, QA_FILL)):
        with rasterio.open(paths[key], "w", nodata=nodata, **profile) as dst:
            dst.write(band, 1)
    return clear, qa
