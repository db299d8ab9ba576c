"""A city's input files, from its config: imagery scenes, covariate sources and NDVI bands.

The workflow asks this module, never the config, which files a city's jobs read:

- ``scene_paths``: the imagery scenes (paths and globs, or one scene as single-band files);
- ``source_file`` and ``vector_files``: one covariate source's or NDVI band's file(s);
- ``ndvi_product`` and ``ndvi_files``: where a city's NDVI comes from (Landsat or
  Sentinel-2; chosen here only, for the rule files and the NDVI script alike) and its bands;
- ``active_sources``: the covariate sources a city has files for.

A demo city's files are those that rules/demo.smk writes (``satcluster.demo.demo_city_paths``
under the city's demo folder); a real city's come from its ``inputs`` (``cities.<name>.inputs``
in a study of named cities). Nothing is read: a configured file must only exist. Each
mistake raises InputError naming the config key and the fix (the workflow shows the
message as it is).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from satcluster.covariates.vectors.sources import expand_sources
from satcluster.demo import DemoCity, demo_city_paths
from satcluster.errors import InputError
from satcluster.study.config import SINGLE_CITY, City, Study

__all__ = [
    "COVARIATE_SOURCES",
    "LANDSAT_BANDS",
    "NDVI_PRODUCTS",
    "SENTINEL2_BANDS",
    "CityInputs",
    "Scene",
    "active_sources",
    "boa_add_offset",
    "city_inputs",
    "inputs_key",
    "job_city",
    "ndvi_files",
    "ndvi_product",
    "scene_paths",
    "source_file",
    "vector_files",
]

# The covariate sources, in the order of the GeoJSON's columns and of the rules' inputs.
COVARIATE_SOURCES = ("buildings", "roads", "population", "ndvi")
LANDSAT_BANDS = ("red", "nir", "qa")  # Landsat 8/9 Collection 2 Level-2: B4, B5, QA_PIXEL
SENTINEL2_BANDS = ("red", "nir", "scl")  # Sentinel-2 Level-2A: B04, B08, scene classes
# The NDVI products and their bands (`inputs.<product>.<band>`).
NDVI_PRODUCTS = {"landsat": LANDSAT_BANDS, "sentinel2": SENTINEL2_BANDS}
RGB_BANDS = ("red", "green", "blue")  # one scene as single-band files

# One imagery scene: a GeoTIFF path, or band ("red", "green", "blue") -> single-band file.
Scene = str | dict[str, str]


@dataclass(frozen=True)
class CityInputs:
    """Where one city's input files come from: its config entry, or the demo's files."""

    city: City
    key: str  # its inputs' key in the config, for messages: `inputs` or `cities.<name>.inputs`
    demo: DemoCity | None  # a demo city's files (written by rules/demo.smk); None if real


def inputs_key(city: City, config: Mapping[str, Any]) -> str:
    """Where the city's inputs are in the config, for messages: `cities.<name>.inputs` or `inputs`."""
    return f"cities.{city.name}.inputs" if config.get("cities") else "inputs"


def city_inputs(city: City, config: Mapping[str, Any], demo_dir: str | os.PathLike) -> CityInputs:
    """The inputs of ``city`` of the validated ``config``; ``demo_dir`` is the folder of a
    demo city's files (the files themselves are named by satcluster.demo)."""
    demo = demo_city_paths(demo_dir, city.demo["n_scenes"]) if city.is_demo else None
    return CityInputs(city, inputs_key(city, config), demo)


def job_city(study: Study, wildcards: Mapping[str, str]) -> City:
    """The city of a job: that of its `{city}` wildcard in a study, else the only one.

    ``wildcards`` is the job's wildcards (Snakemake's, or a dict of them).
    """
    return study.cities[wildcards["city"] if study.is_study else SINGLE_CITY]


# --- imagery -------------------------------------------------------------------------------
def scene_paths(inputs: CityInputs) -> dict[str, Scene]:
    """Imagery scene name -> GeoTIFF path (or band files) of one city, in priority order.

    A scene is named after its file's stem (the red band's for band files), with '_'
    appended until no earlier scene has the name. Globs expand to their files in sorted
    order. Raises InputError for a path or glob that matches no file and for band files
    that do not exist.
    """
    if inputs.demo is not None:
        return {path.stem: str(path) for path in inputs.demo.imagery}
    key = f"{inputs.key}.imagery"
    scenes: dict[str, Scene] = {}
    for pattern in inputs.city.inputs["imagery"]:
        if isinstance(pattern, dict):  # one scene as single-band files on one grid
            bands = {band: pattern[band] for band in RGB_BANDS}
            missing = [path for path in bands.values() if not Path(path).is_file()]
            if missing:
                raise InputError(
                    f"config: `{key}` band file(s) {', '.join(missing)} do not exist; fix the paths."
                )
            scenes[_new_scene_name(Path(bands["red"]).stem, scenes)] = bands
            continue
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        matches = [m for m in matches if Path(m).is_file()]
        if not matches:
            raise InputError(
                f"config: `{key}` entry {pattern!r} matches no file; fix the path or glob."
            )
        for path in matches:
            scenes[_new_scene_name(Path(path).stem, scenes)] = path
    return scenes


def _new_scene_name(stem: str, scenes: Mapping[str, Scene]) -> str:
    """The file's stem, with '_' appended until no earlier scene has it."""
    while stem in scenes:
        stem += "_"
    return stem


# --- covariate sources -------------------------------------------------------------------------
def source_file(inputs: CityInputs, name: str) -> str:
    """The file of one covariate source or NDVI band: the demo's, or the city's configured one.

    ``name`` is a source (``population``) or a product's band (``landsat_red``,
    ``sentinel2_scl``), as satcluster.demo names the demo's files. Raises InputError when
    the city's key is not set or names no file.
    """
    if inputs.demo is not None:
        return str(getattr(inputs.demo, name))
    dotted = name.replace("landsat_", "landsat.").replace("sentinel2_", "sentinel2.")
    return _configured_file(inputs, dotted)


def _configured_file(inputs: CityInputs, key: str) -> str:
    """Path under the city's `inputs` (dotted key); InputError if it is not set or missing."""
    value: Any = inputs.city.inputs
    for part in key.split("."):
        value = value[part]
    if value is None:
        raise InputError(
            f"config: `{inputs.key}.{key}` is not set; give the path to your file "
            "(see config/accra.yaml) or use the demo city."
        )
    if not Path(value).is_file():
        raise InputError(
            f"config: `{inputs.key}.{key}` points to {value}, which does not exist; fix the path."
        )
    return value


def vector_files(inputs: CityInputs, name: str) -> list[str]:
    """The file(s) of vector source ``name`` (buildings, roads): the demo's, or the city's
    path, glob or list of them (satcluster.covariates.vectors.sources.expand_sources)."""
    if inputs.demo is not None:
        return [source_file(inputs, name)]
    if inputs.city.inputs[name] is None:
        _configured_file(inputs, name)  # the message that the key is not set
    return expand_sources(inputs.city.inputs[name], f"{inputs.key}.{name}")


def active_sources(city: City) -> list[str]:
    """The covariate sources with input files (the others are absent from the GeoJSON).

    A demo city has every source; a real city those whose inputs are set (NDVI: all the
    bands of one product). Raises InputError when the city gives two NDVI products.
    """
    if city.is_demo:
        return list(COVARIATE_SOURCES)
    inputs = city.inputs
    configured = {
        "buildings": inputs["buildings"] is not None,
        "roads": inputs["roads"] is not None,
        "population": inputs["population"] is not None,
        "ndvi": ndvi_product(city) is not None,
    }
    return [source for source in COVARIATE_SOURCES if configured[source]]


# --- NDVI ------------------------------------------------------------------------------------
def ndvi_product(city: City) -> str | None:
    """ "landsat" or "sentinel2": the NDVI source of a city (the demo's is Landsat), or None.

    A product counts when all its bands are set. Raises InputError when both are.
    """
    if city.is_demo:
        return "landsat"
    landsat = all(city.inputs["landsat"][band] for band in LANDSAT_BANDS)
    sentinel2 = all(city.inputs["sentinel2"][band] for band in SENTINEL2_BANDS)
    if landsat and sentinel2:
        raise InputError(
            f"config: city {city.name!r} gives both `inputs.landsat` and `inputs.sentinel2`; "
            "NDVI comes from one product: remove the other."
        )
    return "landsat" if landsat else "sentinel2" if sentinel2 else None


def ndvi_files(inputs: CityInputs) -> dict[str, str]:
    """Band -> file of the city's NDVI product: Landsat red/nir/qa or Sentinel-2 red/nir/scl
    ({} without a product). Raises InputError for a band file that does not exist."""
    product = ndvi_product(inputs.city)
    if product is None:
        return {}
    return {band: source_file(inputs, f"{product}_{band}") for band in NDVI_PRODUCTS[product]}


def boa_add_offset(city: City) -> int | float | None:
    """The configured Sentinel-2 offset (used only without product metadata), or None."""
    return None if city.is_demo else city.inputs["sentinel2"]["boa_add_offset"]
