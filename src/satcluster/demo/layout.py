"""The demo city's vector layout: districts, roads, railway and buildings.

Everything is in the frame's CRS (``crs``, EPSG:32630 by default; see place.py for
where the city lies in it). Everything else (imagery, population, Landsat, OSM) is drawn
from this one layout, so that the products agree with each other.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio.transform import from_origin

from satcluster.demo.place import DEFAULT_CRS, city_origin, demo_crs
from satcluster.errors import InputError

__all__ = [
    "CRS",
    "PHENOTYPE_NAMES",
    "PHENOTYPE_SHARES",
    "WATER",
    "CityFrame",
    "CityLayout",
    "build_layout",
    "district_layout",
    "make_frame",
    "normalise_shares",
    "place_buildings",
    "rectangles",
    "road_network",
    "road_polygons",
]

CRS = DEFAULT_CRS  # the default CRS; a city's own is its frame's (CityFrame.crs)
MIN_SIZE_M = 256.0

PHENOTYPE_NAMES = {
    0: "dense buildings oriented > 36 deg",
    1: "dense buildings oriented < 36 deg",
    2: "roads and sparse buildings",
    3: "light vegetation",
    4: "buildings among vegetation",
    5: "empty land",
    6: "water",
    7: "dark dense vegetation",
}
# Area shares of the eight clusters in the paper's Accra map.
PHENOTYPE_SHARES = np.array([0.07, 0.21, 0.36, 0.06, 0.13, 0.10, 0.09, 0.05])
PHENOTYPE_SHARES = PHENOTYPE_SHARES / PHENOTYPE_SHARES.sum()  # the paper's add up to 107%
WATER = 6
# Land phenotypes from the centre of the city outwards; a tier is filled before the next.
URBAN_TIERS = ((0, 1), (2,), (4,), (5, 3, 7))

# Road classes: OSM highway value -> carriageway width in metres.
ROAD_WIDTH_M = {
    "primary": 14.0,
    "secondary": 10.0,
    "tertiary": 8.0,
    "residential": 6.0,
    "service": 4.0,
}
RAILWAY_WIDTH_M = 4.0
TARGET_DISTRICT_M = 200.0


@dataclass(frozen=True)
class CityFrame:
    """The square city and its imagery pixel grid (north-up, in ``crs``)."""

    west: float
    south: float
    size_m: float
    resolution_m: float
    crs: str = DEFAULT_CRS  # projected, metres (place.demo_crs)

    @property
    def width_px(self) -> int:
        return int(round(self.size_m / self.resolution_m))

    @property
    def east(self) -> float:
        return self.west + self.size_m

    @property
    def north(self) -> float:
        return self.south + self.size_m

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.west, self.south, self.east, self.north)

    @property
    def transform(self) -> Affine:
        return from_origin(self.west, self.north, self.resolution_m, self.resolution_m)


@dataclass
class CityLayout:
    """Districts, roads (with railway) and buildings of one demo city, in ``frame.crs``."""

    frame: CityFrame
    districts: gpd.GeoDataFrame  # phenotype, phenotype_name, angle_deg, geometry
    roads: gpd.GeoDataFrame  # highway (or railway="rail"), geometry (LineString)
    buildings: gpd.GeoDataFrame  # phenotype, confidence, roof, geometry (valid rectangles)

    @property
    def water(self) -> shapely.Geometry:
        return _water(self.districts)


def make_frame(size_m: float, resolution_m: float, crs: str = DEFAULT_CRS) -> CityFrame:
    """The city frame: side ``size_m`` and pixel ``resolution_m``, both in metres, in ``crs``.

    The city's corner in ``crs`` is place.city_origin's. Raises InputError when the city
    cannot hold eight districts, the pixel is not in (0, 4] m or ``crs`` is not projected
    in metres.
    """
    if size_m < MIN_SIZE_M:
        raise InputError(
            f"config: `demo.size_m` is {size_m}; the demo city needs at least {MIN_SIZE_M:.0f} m "
            "to hold its eight districts. Increase demo.size_m."
        )
    if resolution_m <= 0 or resolution_m > 4:
        raise InputError(
            f"config: `demo.resolution_m` is {resolution_m}; use a value in (0, 4] metres."
        )
    crs = demo_crs(crs)
    west, south = city_origin(crs)
    width = int(round(size_m / resolution_m))
    return CityFrame(west, south, width * resolution_m, resolution_m, crs)


def normalise_shares(shares: Sequence[float] | None = None) -> np.ndarray:
    """Target area share of each phenotype (PHENOTYPE_NAMES order), summing to 1.

    None gives PHENOTYPE_SHARES (unchanged, so the default city stays bit-identical).
    A zero share leaves that phenotype out. Raises InputError naming
    `demo.phenotype_shares` unless there are 8 non-negative numbers with a positive sum.
    """
    if shares is None:
        return PHENOTYPE_SHARES
    values = list(shares) if isinstance(shares, Sequence | np.ndarray) else None
    numeric = values is not None and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )
    if not numeric or len(values) != len(PHENOTYPE_NAMES) or min(values) < 0 or sum(values) <= 0:
        raise InputError(
            f"config: `demo.phenotype_shares` is {shares!r}; give {len(PHENOTYPE_NAMES)} "
            "non-negative numbers with a positive sum, the area share of each phenotype in "
            "order (" + ", ".join(PHENOTYPE_NAMES.values()) + "); 0 leaves one out."
        )
    array = np.asarray(values, dtype=np.float64)
    return array / array.sum()


def build_layout(
    frame: CityFrame, rng: np.random.Generator, shares: np.ndarray = PHENOTYPE_SHARES
) -> CityLayout:
    """Districts (phenotype area ``shares``, normalised), then roads, then buildings that
    avoid the roads."""
    districts = district_layout(frame, rng, shares)
    roads = road_network(frame, districts, rng)
    buildings = place_buildings(districts, roads, rng)
    return CityLayout(frame, districts, roads, buildings)


# --- districts -------------------------------------------------------------------------


def _cells_per_side(frame: CityFrame) -> int:
    return max(7, math.ceil(frame.size_m / TARGET_DISTRICT_M))


def district_layout(
    frame: CityFrame, rng: np.random.Generator, shares: np.ndarray = PHENOTYPE_SHARES
) -> gpd.GeoDataFrame:
    """Voronoi districts from a jittered grid of seeds, phenotypes assigned by area quota
    (``shares``: normalised area share per phenotype).

    Water takes the southern (coastal) cells; land phenotypes go from the centre
    outwards (dense, then sparse, then vegetated), so districts look like a city.
    """
    n = _cells_per_side(frame)
    cell = frame.size_m / n
    iy, ix = np.mgrid[0:n, 0:n]
    sx = frame.west + (ix.ravel() + 0.5 + rng.uniform(-0.35, 0.35, n * n)) * cell
    sy = frame.south + (iy.ravel() + 0.5 + rng.uniform(-0.35, 0.35, n * n)) * cell
    city = shapely.box(*frame.bounds)
    cells = shapely.voronoi_polygons(
        shapely.multipoints(np.c_[sx, sy]), extend_to=city, ordered=True
    )
    polygons = shapely.intersection(shapely.get_parts(cells), city)
    areas = shapely.area(polygons)
    phenotype = _assign_phenotypes(frame, sx, sy, areas, cell, rng, shares)
    angle = _district_angles(phenotype, rng)
    return gpd.GeoDataFrame(
        {
            "district_id": np.arange(len(polygons)),
            "phenotype": phenotype.astype("int64"),
            "phenotype_name": [PHENOTYPE_NAMES[p] for p in phenotype],
            "angle_deg": angle,
        },
        geometry=polygons,
        crs=frame.crs,
    )


def _assign_phenotypes(
    frame: CityFrame,
    sx: np.ndarray,
    sy: np.ndarray,
    areas: np.ndarray,
    cell: float,
    rng: np.random.Generator,
    shares: np.ndarray,
) -> np.ndarray:
    targets = shares * areas.sum()
    assigned = np.zeros(len(shares))
    phenotype = np.full(len(areas), -1)
    # Coast along the south: the lowest seeds become water until the quota is met.
    for i in np.argsort(sy + rng.normal(0, 0.3 * cell, len(sy))):
        if assigned[WATER] + areas[i] / 2 > targets[WATER]:
            break
        phenotype[i] = WATER
        assigned[WATER] += areas[i]
    centre_x = frame.west + 0.45 * frame.size_m
    centre_y = frame.south + 0.6 * frame.size_m
    urban = -np.hypot(sx - centre_x, sy - centre_y) + rng.normal(0, 0.6 * cell, len(sx))
    for i in np.argsort(-urban):
        if phenotype[i] >= 0:
            continue
        phenotype[i] = _next_phenotype(targets, assigned, areas[i])
        assigned[phenotype[i]] += areas[i]
    return phenotype


def _next_phenotype(targets: np.ndarray, assigned: np.ndarray, area: float) -> int:
    """The most under-filled phenotype of the first tier that still has room."""
    for tier in URBAN_TIERS:
        room = [p for p in tier if assigned[p] + area / 2 <= targets[p]]
        if room:
            return max(room, key=lambda p: (targets[p] - assigned[p]) / targets[p])
    # Every quota is met: the most under-filled land phenotype, among those with a share
    # (a zero share means absent, and would divide by zero); water if no land has one.
    land = [p for tier in URBAN_TIERS for p in tier if targets[p] > 0]
    if not land:
        return WATER
    return max(land, key=lambda p: (targets[p] - assigned[p]) / targets[p])


def _district_angles(phenotype: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Street-grid rotation per district, in degrees counter-clockwise from east.

    momepy.orientation folds angles onto [0, 45]: 40-50 deg gives 40-45 (phenotype 0),
    -25..25 deg gives 0-25 (phenotype 1).
    """
    angle = rng.uniform(-10, 10, len(phenotype))
    angle[phenotype == 0] = rng.uniform(40, 50, (phenotype == 0).sum())
    angle[phenotype == 1] = rng.uniform(-25, 25, (phenotype == 1).sum())
    return np.round(angle, 2)


# --- roads -------------------------------------------------------------------------------


def _rotate(u: np.ndarray, v: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    a = math.radians(angle_deg)
    return u * math.cos(a) - v * math.sin(a), u * math.sin(a) + v * math.cos(a)


def _lines(coords: np.ndarray) -> np.ndarray:
    """(n, k, 2) coordinates -> n LineStrings."""
    return shapely.linestrings(coords)


def _clip_lines(lines: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """Clip lines to an area; return the non-empty LineString parts."""
    parts = shapely.get_parts(shapely.intersection(lines, area))
    parts = parts[shapely.get_type_id(parts) == 1]
    return parts[shapely.length(parts) > 5.0]


def road_network(
    frame: CityFrame, districts: gpd.GeoDataFrame, rng: np.random.Generator
) -> gpd.GeoDataFrame:
    """Arterial grid on land, district streets, and one railway line."""
    land = shapely.difference(shapely.box(*frame.bounds), _water(districts).buffer(10.0))
    rows: list[tuple[str, np.ndarray]] = []
    rows += _arterials(frame, districts, land)
    for district in districts.itertuples():
        rows += _district_streets(district, rng)
    rail = _railway(frame, land)
    highway = [h for h, lines in rows for _ in lines]
    geometry = np.concatenate([lines for _, lines in rows] + [rail])
    roads = gpd.GeoDataFrame(
        {
            "highway": highway + [None] * len(rail),
            "railway": [None] * len(highway) + ["rail"] * len(rail),
        },
        geometry=geometry,
        crs=frame.crs,
    )
    return roads.reset_index(drop=True)


def _water(districts: gpd.GeoDataFrame) -> shapely.Geometry:
    return shapely.union_all(districts.geometry[districts.phenotype == WATER].to_numpy())


def _arterials(
    frame: CityFrame, districts: gpd.GeoDataFrame, land: shapely.Geometry
) -> list[tuple[str, np.ndarray]]:
    """A grid of main roads every ~100-200 m: the central lines are primary, the others
    alternate between secondary and tertiary (tertiary only inside built-up districts)."""
    spacing = float(np.clip(frame.size_m / 8, 96.0, 200.0))
    n = int(frame.size_m // spacing)
    centre = (n + 1) // 2
    built = shapely.union_all(
        districts.geometry[districts.phenotype.isin([0, 1, 2])].to_numpy()
    ).buffer(1.0)
    built_land = shapely.intersection(land, built)
    out: list[tuple[str, np.ndarray]] = []
    for i in range(1, n + 1):
        offset = i * spacing
        if offset > frame.size_m - 20:
            continue
        x, y = frame.west + offset, frame.south + offset
        vertical = [[x, frame.south], [x, frame.north]]
        horizontal = [[frame.west, y], [frame.east, y]]
        d = abs(i - centre)
        # Odd distances: secondary north-south, tertiary east-west; even ones the reverse.
        for line, odd_kind in ((vertical, "secondary"), (horizontal, "tertiary")):
            kind = (
                odd_kind if d % 2 else {"secondary": "tertiary", "tertiary": "secondary"}[odd_kind]
            )
            kind = "primary" if d == 0 else kind
            area = built_land if kind == "tertiary" else land
            out.append((kind, _clip_lines(_lines(np.array([line])), area)))
    return out


def _district_streets(district, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Residential grids in dense districts, parallel streets in sparse ones, a service
    road through districts of buildings among vegetation."""
    geom = district.geometry
    p = district.phenotype
    if p in (0, 1):
        spacing = _dense_spacing(geom)
        return [("residential", _clip_lines(_street_grid(geom, district.angle_deg, spacing), geom))]
    if p == 2:
        lines = _street_grid(geom, district.angle_deg, SPARSE_STREET_M, both=False)
        return [("residential", _clip_lines(lines, geom))]
    if p == 4:
        c = shapely.centroid(geom)
        half = _radius(geom)
        u = np.array([-half, half])
        x, y = _rotate(u, np.zeros(2), rng.uniform(0, 180))
        line = _lines(np.array([np.c_[x + c.x, y + c.y]]))
        return [("service", _clip_lines(line, geom))]
    return []


SPARSE_STREET_M = 80.0


def _dense_spacing(geom: shapely.Geometry) -> float:
    """Street spacing of dense districts: ~50 m, tighter in small (test) cities."""
    return float(np.clip(math.sqrt(shapely.area(geom)) / 4, 30.0, 50.0))


def _radius(geom: shapely.Geometry) -> float:
    """Largest distance from the centroid to the outline (grids are laid out around it)."""
    c = shapely.centroid(geom)
    xy = shapely.get_coordinates(geom)
    return float(np.hypot(xy[:, 0] - c.x, xy[:, 1] - c.y).max()) + 1.0


def _street_grid(
    geom: shapely.Geometry, angle_deg: float, spacing: float, both: bool = True
) -> np.ndarray:
    """Streets every `spacing` metres, rotated by the district angle, around its centroid."""
    c = shapely.centroid(geom)
    half = _radius(geom)
    k = np.arange(-math.ceil(half / spacing), math.ceil(half / spacing) + 1) * spacing
    ends = np.array([-half, half])
    coords = [np.stack([np.full(2, kk), ends], axis=-1) for kk in k]  # u = k: along v
    if both:
        coords += [np.stack([ends, np.full(2, kk)], axis=-1) for kk in k]
    uv = np.array(coords)
    x, y = _rotate(uv[..., 0], uv[..., 1], angle_deg)
    return _lines(np.stack([x + c.x, y + c.y], axis=-1))


def _railway(frame: CityFrame, land: shapely.Geometry) -> np.ndarray:
    """One railway from the west edge to the north edge, across the north-west."""
    s = frame.size_m
    line = _lines(
        np.array([[[frame.west, frame.south + 0.72 * s], [frame.west + 0.55 * s, frame.north]]])
    )
    return _clip_lines(line, land)


def road_polygons(roads: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Carriageway polygons and their width (railway included), from the centre lines."""
    width = roads.highway.map(ROAD_WIDTH_M).fillna(RAILWAY_WIDTH_M).to_numpy()
    polygons = shapely.buffer(roads.geometry.to_numpy(), width / 2, cap_style="flat")
    return polygons, width


# --- buildings ---------------------------------------------------------------------------


def rectangles(
    cx: np.ndarray, cy: np.ndarray, length: np.ndarray, width: np.ndarray, angle_deg: np.ndarray
) -> np.ndarray:
    """Rectangles as shapely Polygons: centres, length (along the angle) and width in CRS
    units (metres), angle in degrees counter-clockwise from east."""
    su = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])
    sv = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])
    u = length[:, None] * su
    v = width[:, None] * sv
    a = np.radians(angle_deg)[:, None]
    x = cx[:, None] + u * np.cos(a) - v * np.sin(a)
    y = cy[:, None] + u * np.sin(a) + v * np.cos(a)
    return shapely.polygons(np.stack([x, y], axis=-1))


def place_buildings(
    districts: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, rng: np.random.Generator
) -> gpd.GeoDataFrame:
    """Buildings per district (none in water, empty land or vegetation), clear of roads."""
    parts = []
    for district in districts.itertuples():
        placer = _PLACERS.get(district.phenotype)
        if placer is None:
            continue
        geoms, angle = placer(district, rng)
        inside = shapely.contains(district.geometry, geoms)
        geoms, angle = geoms[inside], angle[inside]
        parts.append((np.full(len(geoms), district.phenotype), geoms))
    phenotype = np.concatenate([p for p, _ in parts] + [np.zeros(0, np.int64)])
    geoms = np.concatenate([g for _, g in parts] + [np.zeros(0, object)])
    road_polys, _ = road_polygons(roads)
    clearance = shapely.buffer(road_polys, 1.5)
    hit = np.unique(shapely.STRtree(clearance).query(geoms, predicate="intersects")[0])
    keep = np.ones(len(geoms), bool)
    keep[hit] = False
    n = int(keep.sum())
    return gpd.GeoDataFrame(
        {
            "phenotype": phenotype[keep],
            "confidence": np.round(rng.uniform(0.7, 1.0, n), 4),
            "roof": rng.integers(0, 1 << 30, n),
        },
        geometry=geoms[keep],
        crs=districts.crs,
    ).reset_index(drop=True)


def _dense_buildings(district, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Blocks between the district's streets, filled with a few lots each."""
    geom = district.geometry
    spacing = _dense_spacing(geom)
    margin = ROAD_WIDTH_M["residential"] / 2 + 2.0
    n_lots = max(1, round((spacing - 2 * margin) / 10.5))
    lot = (spacing - 2 * margin) / n_lots
    half = _radius(geom)
    blocks = np.arange(-math.ceil(half / spacing), math.ceil(half / spacing)) * spacing
    offsets = margin + (np.arange(n_lots) + 0.5) * lot
    along = (blocks[:, None] + offsets[None, :]).ravel()
    u, v = (a.ravel() for a in np.meshgrid(along, along))
    keep = rng.random(len(u)) < 0.92
    u, v = u[keep], v[keep]
    n = len(u)
    length = lot * rng.uniform(0.72, 0.9, n)
    width = lot * rng.uniform(0.55, 0.8, n)
    u = u + rng.uniform(-0.5, 0.5, n) * (lot - length) * 0.8
    v = v + rng.uniform(-0.5, 0.5, n) * (lot - width) * 0.8
    angle = district.angle_deg + rng.uniform(-2, 2, n)
    # Alternate long axes so that blocks are not uniform; orientation is folded mod 90.
    angle = angle + 90.0 * (rng.random(n) < 0.3)
    return _to_world(geom, district.angle_deg, u, v, length, width, angle)


def _sparse_buildings(district, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Houses on both sides of the district's parallel streets, with gaps."""
    geom = district.geometry
    half = _radius(geom)
    streets = np.arange(-math.ceil(half / SPARSE_STREET_M), math.ceil(half / SPARSE_STREET_M) + 1)
    along = np.arange(-half, half, 18.0)
    su, sv = (a.ravel() for a in np.meshgrid(streets * SPARSE_STREET_M, along))
    side = np.where(rng.random(len(su)) < 0.5, -1.0, 1.0)
    keep = rng.random(len(su)) < 0.6
    su, sv, side = su[keep], sv[keep], side[keep]
    n = len(su)
    length = rng.uniform(10, 15, n)  # along the street
    width = rng.uniform(8, 11, n)
    u = su + side * (ROAD_WIDTH_M["residential"] / 2 + 2.5 + width / 2 + rng.uniform(0, 4, n))
    angle = district.angle_deg + 90.0 + rng.uniform(-5, 5, n)
    return _to_world(geom, district.angle_deg, u, sv, length, width, angle)


def _vegetated_buildings(district, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scattered larger houses at random angles on a jittered 30 m grid."""
    geom = district.geometry
    half = _radius(geom)
    along = np.arange(-half, half, 30.0)
    u, v = (a.ravel() for a in np.meshgrid(along, along))
    keep = rng.random(len(u)) < 0.5
    u, v = u[keep], v[keep]
    n = len(u)
    u = u + rng.uniform(-4, 4, n)
    v = v + rng.uniform(-4, 4, n)
    angle = rng.uniform(0, 90, n)
    return _to_world(geom, 0.0, u, v, rng.uniform(10, 16, n), rng.uniform(8, 12, n), angle)


def _to_world(geom, grid_angle, u, v, length, width, angle) -> tuple[np.ndarray, np.ndarray]:
    c = shapely.centroid(geom)
    x, y = _rotate(u, v, grid_angle)
    return rectangles(x + c.x, y + c.y, length, width, angle), angle


_PLACERS = {0: _dense_buildings, 1: _dense_buildings, 2: _sparse_buildings, 4: _vegetated_buildings}
