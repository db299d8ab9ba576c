"""satcluster.figures.catalogue: which figures a city gets, without Snakemake."""

from __future__ import annotations

from pathlib import Path

import pytest

from satcluster.errors import InputError
from satcluster.figures.catalogue import (
    CONSENSUS_FIGURE_NAMES,
    COVARIATE_FIGURE_NAMES,
    DEMO_FIGURE_NAMES,
    FIGURE_NAMES,
    city_figure_names,
)
from satcluster.study.config import City

ROOT = Path(__file__).resolve().parents[2]
NO_INPUTS = {
    "imagery": ["a.tif"],
    "buildings": None,
    "roads": None,
    "population": None,
    "landsat": {"red": None, "nir": None, "qa": None},
    "sentinel2": {"red": None, "nir": None, "scl": None, "boa_add_offset": None},
}


def real_city(**inputs) -> City:
    return City("lagos", "EPSG:32631", None, {**NO_INPUTS, **inputs})


DEMO_CITY = City("accra", "EPSG:32630", {"seed": 7, "n_scenes": 2}, None)


def test_every_figure_has_its_module_script_and_caption():
    names = {*FIGURE_NAMES, *COVARIATE_FIGURE_NAMES, *DEMO_FIGURE_NAMES, *CONSENSUS_FIGURE_NAMES}
    assert set(COVARIATE_FIGURE_NAMES) <= set(FIGURE_NAMES)
    for name in names:
        assert (ROOT / "src" / "satcluster" / "figures" / f"{name}.py").is_file(), name
        assert (ROOT / "workflow" / "scripts" / f"plot_{name}.py").is_file(), name
        assert (ROOT / "workflow" / "report" / f"{name}.rst").is_file(), name


def test_a_demo_city_gets_every_figure_and_the_phenotype_figure():
    assert city_figure_names(DEMO_CITY, consensus=False) == [*FIGURE_NAMES, "phenotype_contingency"]


def test_a_consensus_adds_the_confidence_figure_before_the_demos():
    assert city_figure_names(DEMO_CITY, consensus=True) == [
        *FIGURE_NAMES,
        "cluster_confidence",
        "phenotype_contingency",
    ]


def test_a_city_without_covariates_gets_no_covariate_figure():
    names = city_figure_names(real_city(), consensus=False)
    assert names == [name for name in FIGURE_NAMES if name not in COVARIATE_FIGURE_NAMES]
    assert city_figure_names(real_city(), consensus=True) == [*names, "cluster_confidence"]


@pytest.mark.parametrize(
    "inputs",
    [
        {"roads": "r.osm"},
        {"buildings": ["a.gpkg", "b.gpkg"]},
        {"sentinel2": {"red": "B04", "nir": "B08", "scl": "SCL", "boa_add_offset": None}},
    ],
)
def test_one_covariate_source_brings_the_covariate_figures(inputs):
    assert city_figure_names(real_city(**inputs), consensus=False) == list(FIGURE_NAMES)


def test_two_ndvi_products_stop_with_the_inputs_message():
    city = real_city(
        landsat={"red": "b4", "nir": "b5", "qa": "qa"},
        sentinel2={"red": "B04", "nir": "B08", "scl": "SCL", "boa_add_offset": None},
    )
    with pytest.raises(InputError, match="gives both `inputs.landsat` and `inputs.sentinel2`"):
        city_figure_names(city, consensus=False)
