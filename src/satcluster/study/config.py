"""A study: several cities, spatial scales and DeepCluster seeds in one run.

``study_plan(config)`` reads the validated config into a ``Study``: the cities
(``cities:`` or the one city of the top-level ``crs``/``inputs``/``demo``), the
scales (``tiles.size_px``: one tile side in pixels or a list of them) and the seeds
(``deepcluster.seeds``, else ``deepcluster.seed``). A config with one city, one
scale and one seed is no study: the workflow then writes what it always wrote,
under ``results/``. Every check that the schema cannot make is here, each with one
message naming the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from satcluster.crs import require_metric_crs
from satcluster.errors import InputError

__all__ = ["RESERVED_NAMES", "SINGLE_CITY", "City", "Study", "study_plan"]

# The one city of a config without `cities:` (a folder name only in a study of scales/seeds).
SINGLE_CITY = "city"
# Folders of results/ that are not cities.
RESERVED_NAMES = {
    "pooled",
    "comparison",
    "figures",
    "tiles",
    "deepcluster",
    "clusters",
    "benchmarks",
}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class City:
    """One city: its working CRS and either its demo settings or its inputs."""

    name: str
    crs: str
    demo: dict[str, Any] | None  # seed, size_m, phenotype_shares (+ the shared ones)
    inputs: dict[str, Any] | None

    @property
    def is_demo(self) -> bool:
        return self.demo is not None


@dataclass(frozen=True)
class Study:
    """What a run compares: cities x scales (tiling), scales x seeds (training)."""

    cities: dict[str, City]
    scales: list[int]  # tile sides in px, ascending; each a multiple of the first
    seeds: list[int]  # the first is the reference seed (maps and figures without a consensus)
    is_study: bool = field(default=False)
    consensus: bool = field(default=False)  # maps and figures show the seeds' consensus

    @property
    def reference_seed(self) -> int:
        return self.seeds[0]

    @property
    def demo_cities(self) -> list[str]:
        return [name for name, city in self.cities.items() if city.is_demo]


def study_plan(config: dict[str, Any]) -> Study:
    """The study of a validated config (defaults filled in), or InputError naming the key."""
    scales = _scales(config["tiles"]["size_px"])
    seeds = _seeds(config["deepcluster"])
    cities = _cities(config)
    is_study = bool(config.get("cities")) or len(scales) > 1 or len(seeds) > 1
    return Study(cities, scales, seeds, is_study, _consensus(config["clusters"], seeds))


def _consensus(clusters: dict[str, Any], seeds: list[int]) -> bool:
    """`clusters.consensus`: on by default with several seeds; needs several seeds."""
    consensus = clusters.get("consensus")
    if consensus is None:
        return len(seeds) > 1
    if consensus and len(seeds) < 2:
        raise InputError(
            "config: `clusters.consensus` is true but `deepcluster.seeds` gives one seed; a "
            "consensus combines two or more: list more seeds, or set it to false."
        )
    return bool(consensus)


def _scales(size_px: int | list[int]) -> list[int]:
    scales = sorted(size_px) if isinstance(size_px, list) else [size_px]
    if len(set(scales)) < len(scales):
        raise InputError(
            f"config: `tiles.size_px` lists a scale twice ({size_px}); list each once."
        )
    finest = scales[0]
    odd = [s for s in scales if s % finest]
    if odd:
        raise InputError(
            f"config: `tiles.size_px` scales {odd} are not whole multiples of the smallest, "
            f"{finest} px, so their tiles would not nest on the grid; use multiples of {finest} "
            f"(e.g. {[finest * m for m in (1, 2, 4)]})."
        )
    return scales


def _seeds(deepcluster: dict[str, Any]) -> list[int]:
    seeds = deepcluster.get("seeds")
    if seeds is None:
        return [int(deepcluster["seed"])]
    if not seeds:
        raise InputError(
            "config: `deepcluster.seeds` is empty; list at least one seed, or remove the key "
            "to use `deepcluster.seed`."
        )
    if len(set(seeds)) < len(seeds):
        raise InputError(f"config: `deepcluster.seeds` lists a seed twice ({seeds}).")
    return [int(s) for s in seeds]


def _cities(config: dict[str, Any]) -> dict[str, City]:
    cities = config.get("cities") or {}
    if not cities:
        demo = dict(config["demo"]) if config["demo"]["enabled"] else None
        return {SINGLE_CITY: City(SINGLE_CITY, config["crs"], demo, config["inputs"])}
    folded: dict[str, str] = {}
    result = {}
    for name, spec in cities.items():
        _check_name(str(name), folded)
        result[str(name)] = _city(str(name), spec or {}, config)
    return result


def _check_name(name: str, folded: dict[str, str]) -> None:
    """City names are folder names: simple, not reserved, unique even ignoring case."""
    if not NAME_PATTERN.fullmatch(name) or name.lower() in RESERVED_NAMES:
        raise InputError(
            f"config: city name `cities.{name}` must be letters, digits, '_' or '-' (a folder "
            f"name), and none of {sorted(RESERVED_NAMES)}; rename it."
        )
    if name.lower() in folded:
        raise InputError(
            f"config: cities `{folded[name.lower()]}` and `{name}` have the same name (ignoring "
            "case, as some file systems do); give each city its own name."
        )
    folded[name.lower()] = name


def _city(name: str, spec: dict[str, Any], config: dict[str, Any]) -> City:
    key = f"cities.{name}"
    crs = spec.get("crs") or config["crs"]
    require_metric_crs(crs, key=f"{key}.crs")
    demo = spec.get("demo")
    inputs = spec.get("inputs")
    if demo is not None and inputs:
        raise InputError(f"config: `{key}` has both `demo` and `inputs`; give one of them.")
    if demo is not None:
        shared = {k: config["demo"][k] for k in ("resolution_m", "n_scenes")}
        defaults = {k: config["demo"][k] for k in ("seed", "size_m", "phenotype_shares")}
        return City(name, crs, {**defaults, **demo, **shared, "enabled": True}, None)
    if not inputs or not inputs.get("imagery"):
        raise InputError(
            f"config: `{key}` has no inputs; give `{key}.inputs.imagery` (GeoTIFF paths or globs, "
            f"plus buildings, roads, population, landsat or sentinel2 as in config/accra.yaml) or "
            f"`{key}.demo: {{}}` for a demo city."
        )
    return City(name, crs, None, inputs)  # the schema filled in the keys it left out
