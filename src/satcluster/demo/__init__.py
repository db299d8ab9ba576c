"""A deterministic synthetic city near Accra, written in the real data products' formats.

`generate_demo_city(out_dir, seed)` plants the paper's eight phenotypes as Voronoi
districts (water along the southern coast, dense districts in the centre, vegetation
on the outskirts) and writes, consistently with each other:

- ``imagery/scene_{i}.tif``: overlapping RGB uint8 GeoTIFFs in the city's ``crs``
  (EPSG:32630 by default). Even scenes
  mark nodata with the value 0, odd scenes with an internal mask band; the north-west
  and north-east corners of the city are covered by no scene.
- ``buildings.gpkg``: footprints, EPSG:4326 (columns area_in_meters, confidence).
  Two footprints are deliberately invalid self-intersecting bow-ties, as in real
  footprint data, so that the loaders' repair is exercised.
- ``roads.osm``: OSM 0.6 XML in lon/lat; highway primary, secondary, tertiary,
  residential and service, plus one railway=rail way and one building=yes closed way
  that a road loader must ignore.
- ``population_ppp.tif``: WorldPop-style people per pixel, float32, EPSG:4326,
  3 arc-second pixels on the 3 arc-second grid, nodata -99999 over water.
- ``landsat/LC08_..._SR_B4.TIF``, ``_SR_B5.TIF``, ``_QA_PIXEL.TIF``: Landsat 8
  Collection 2 Level-2, uint16, 30 m, in ``crs``; one cloud (bright, flagged cloud
  with dilated cloud around it) and its shadow flagged in QA_PIXEL.
- ``truth.gpkg``: the district polygons (phenotype, phenotype_name), in ``crs``.

Two optional settings make cities that differ (a study compares several):

- ``crs``: a projected CRS in metres, EPSG:32630 (UTM 30N, Accra) by default. The city
  is placed in it by place.city_origin: Accra's corner for EPSG:32630, Dakar for
  EPSG:32628, the same easting/northing (the same place relative to the zone) in another
  UTM zone. The lon/lat products are converted from it.
- ``phenotype_shares``: the target area share of each phenotype (PHENOTYPE_NAMES order),
  PHENOTYPE_SHARES (the paper's Accra map) by default; 0 leaves one out.

The file names are those of DEMO_FILE_NAMES whatever the CRS: the Landsat names keep
Accra's path/row 193/056 even for a city elsewhere, because the workflow names files
from that one table (the scenes are synthetic; nothing reads the path/row).

``evaluate_phenotypes`` (rule evaluate_phenotypes, imported from its module: it loads the
clusters stage) measures how well the clusters find the planted phenotypes.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from satcluster.demo.imagery import scene_specs, write_scenes
from satcluster.demo.layout import (
    PHENOTYPE_NAMES,
    PHENOTYPE_SHARES,
    CityFrame,
    CityLayout,
    build_layout,
    make_frame,
    normalise_shares,
)
from satcluster.demo.place import DEFAULT_CRS, city_origin, demo_crs
from satcluster.demo.products import (
    write_buildings,
    write_landsat,
    write_osm,
    write_population,
    write_truth,
)
from satcluster.errors import InputError
from satcluster.runlog import timed

__all__ = [
    "DEFAULT_CRS",
    "DEMO_FILE_NAMES",
    "LANDSAT_PREFIX",
    "PHENOTYPE_NAMES",
    "PHENOTYPE_SHARES",
    "CityFrame",
    "CityLayout",
    "DemoCity",
    "build_city",
    "city_origin",
    "demo_city_paths",
    "generate_demo_city",
    "scene_names",
    "scene_specs",
]

log = logging.getLogger("satcluster.demo")

LANDSAT_PREFIX = "landsat/LC08_L2SP_193056_20200101_20200109_02_T1"
# The one table of the demo products' file names, relative to the output directory:
# workflow/rules/common.smk builds DEMO_OUTPUTS, and satcluster.study.inputs the demo
# scenes and source files, from `demo_city_paths`.
# The same for every `crs`: path/row 193/056 (Accra) is kept for a city elsewhere too.
DEMO_FILE_NAMES = {
    "buildings": "buildings.gpkg",
    "roads": "roads.osm",
    "population": "population_ppp.tif",
    "landsat_red": f"{LANDSAT_PREFIX}_SR_B4.TIF",
    "landsat_nir": f"{LANDSAT_PREFIX}_SR_B5.TIF",
    "landsat_qa": f"{LANDSAT_PREFIX}_QA_PIXEL.TIF",
    "truth": "truth.gpkg",
}


@dataclass(frozen=True)
class DemoCity:
    """Paths of one generated demo city."""

    imagery: list[Path]
    buildings: Path
    roads: Path
    population: Path
    landsat_red: Path
    landsat_nir: Path
    landsat_qa: Path
    truth: Path

    def files(self) -> list[Path]:
        """Every path: the imagery scenes first, then the products of DEMO_FILE_NAMES."""
        return [*self.imagery, *(getattr(self, key) for key in DEMO_FILE_NAMES)]


def scene_names(n_scenes: int) -> list[str]:
    """Paths of the ``n_scenes`` imagery scenes, relative to the output directory."""
    return [f"imagery/scene_{i}.tif" for i in range(n_scenes)]


def demo_city_paths(out_dir: str | os.PathLike, n_scenes: int = 2) -> DemoCity:
    """Where `generate_demo_city` writes each product under ``out_dir`` (nothing is read)."""
    out_dir = Path(out_dir)
    return DemoCity(
        imagery=[out_dir / name for name in scene_names(n_scenes)],
        **{key: out_dir / name for key, name in DEMO_FILE_NAMES.items()},
    )


def build_city(
    seed: int = 7,
    size_m: float = 1536,
    resolution_m: float = 0.5,
    crs: str = DEFAULT_CRS,
    phenotype_shares: Sequence[float] | None = None,
) -> CityLayout:
    """The vector layout (districts, roads, buildings) of the city for ``seed``.

    ``size_m`` is the city's side in metres, ``resolution_m`` the imagery pixel in metres,
    ``crs`` the projected CRS in metres the city is drawn in (placed by
    place.city_origin), ``phenotype_shares`` the target area share of each phenotype
    (normalised; None: PHENOTYPE_SHARES). Raises InputError naming the setting when one
    is invalid.
    """
    frame = make_frame(size_m, resolution_m, crs)
    shares = normalise_shares(phenotype_shares)
    return build_layout(frame, np.random.default_rng([seed, 1]), shares)


def generate_demo_city(
    out_dir: str | os.PathLike,
    seed: int = 7,
    size_m: float = 1536,
    resolution_m: float = 0.5,
    n_scenes: int = 2,
    crs: str = DEFAULT_CRS,
    phenotype_shares: Sequence[float] | None = None,
    threads: int = 1,
) -> DemoCity:
    """Write every demo product under ``out_dir`` (same settings, same files).

    ``size_m``: side of the square city in metres; ``resolution_m``: imagery pixel size in
    metres; ``n_scenes``: overlapping imagery scenes, 2 or more; ``crs``: projected CRS in
    metres of the imagery, truth and Landsat (the lon/lat products are converted from it);
    ``phenotype_shares``: target area share of each of the 8 phenotypes (None: the
    paper's). With the defaults the files are the same bytes as before these settings
    existed (GeoPackages apart from their write timestamp). ``threads`` paint the imagery
    (the same bytes for any number). Returns the paths written.

    Files are generated in a temporary directory beside ``out_dir`` and moved into
    place only when all of them are written, so a failure leaves no partial output.
    """
    if n_scenes < 2:
        raise InputError(f"config: `demo.n_scenes` is {n_scenes}; use 2 or more.")
    # Check the settings before any directory is made; build_city applies them.
    demo_crs(crs)
    normalise_shares(phenotype_shares)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp"))
    try:
        staged = _write_all(
            tmp_dir, seed, size_m, resolution_m, n_scenes, crs, phenotype_shares, threads
        )
        final = demo_city_paths(out_dir, n_scenes)
        for src, dst in zip(staged.files(), final.files(), strict=True):
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return final


def _write_all(
    out_dir: Path,
    seed: int,
    size_m: float,
    resolution_m: float,
    n_scenes: int,
    crs: str,
    phenotype_shares: Sequence[float] | None,
    threads: int,
) -> DemoCity:
    paths = demo_city_paths(out_dir, n_scenes)
    for path in paths.files():
        path.parent.mkdir(parents=True, exist_ok=True)
    with timed(log, "layout"):
        layout = build_city(seed, size_m, resolution_m, crs, phenotype_shares)
    log.info(
        "demo city %.0f m at %.2f m/px in %s: %d districts, %d roads, %d buildings",
        layout.frame.size_m,
        resolution_m,
        layout.frame.crs,
        len(layout.districts),
        len(layout.roads),
        len(layout.buildings),
    )
    with timed(log, "imagery"):
        write_scenes(layout, out_dir / "imagery", n_scenes, seed, threads)
    with timed(log, "vectors"):
        write_buildings(layout, paths.buildings, np.random.default_rng([seed, 2]))
        write_truth(layout, paths.truth)
        write_osm(layout, paths.roads)
    with timed(log, "population"):
        write_population(layout, paths.population, np.random.default_rng([seed, 3]))
    with timed(log, "landsat"):
        bands = {"red": paths.landsat_red, "nir": paths.landsat_nir, "qa": paths.landsat_qa}
        write_landsat(layout, bands, np.random.default_rng([seed, 4]))
    return paths
