"""study_plan: the cities, scales and seeds of a validated config, each bad value named by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from satcluster.config import validate_config
from satcluster.errors import InputError
from satcluster.study.config import SINGLE_CITY, City, Study, study_plan

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def validated(config: dict) -> dict:
    """The config validated against the real schema (defaults filled in place)."""
    return validate_config(config, SCHEMA)


def plan(config: dict) -> Study:
    return study_plan(validated(config))


def demo_config(**overrides) -> dict:
    """The single demo city, plus top-level overrides."""
    return {"demo": {"enabled": True}, **overrides}


def two_demo_cities() -> dict:
    return {
        "crs": "EPSG:32630",
        "demo": {"enabled": False, "resolution_m": 2.0, "n_scenes": 3, "seed": 11},
        "cities": {
            "accra": {"demo": {}},
            "dakar": {
                "crs": "EPSG:32628",
                "demo": {"seed": 5, "size_m": 768, "phenotype_shares": [1, 1, 1, 1, 1, 1, 1, 2]},
            },
        },
    }


def raises_input_error(config: dict, *fragments: str) -> str:
    """study_plan(validated(config)) raises InputError whose message holds every fragment."""
    with pytest.raises(InputError) as excinfo:
        plan(config)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --- the single city ----------------------------------------------------------------------


def test_default_demo_config_is_one_city_and_no_study():
    study = plan(demo_config())
    assert not study.is_study
    assert list(study.cities) == [SINGLE_CITY]
    city = study.cities[SINGLE_CITY]
    assert city.name == SINGLE_CITY
    assert city.crs == "EPSG:32630"  # the schema's default top-level crs
    assert city.is_demo
    assert city.demo["enabled"] is True
    assert city.demo["seed"] == 7 and city.demo["size_m"] == 1536
    assert study.scales == [256]
    assert study.seeds == [31]
    assert study.reference_seed == 31
    assert study.demo_cities == [SINGLE_CITY]


def test_single_city_takes_the_top_level_crs():
    study = plan(demo_config(crs="EPSG:32631"))
    assert study.cities[SINGLE_CITY].crs == "EPSG:32631"


def test_single_real_city_has_the_top_level_inputs_and_no_demo():
    config = {"inputs": {"imagery": ["/data/accra/*.tif"], "roads": "roads.gpkg"}}
    study = plan(config)
    city = study.cities[SINGLE_CITY]
    assert not city.is_demo
    assert city.demo is None
    assert city.inputs["imagery"] == ["/data/accra/*.tif"]
    assert city.inputs["roads"] == "roads.gpkg"
    assert study.demo_cities == []
    assert not study.is_study


# --- scales -------------------------------------------------------------------------------


def test_scales_are_sorted_and_make_a_study():
    study = plan(demo_config(tiles={"size_px": [64, 32, 128]}))
    assert study.scales == [32, 64, 128]
    assert study.is_study
    assert list(study.cities) == [SINGLE_CITY]  # a study of scales over the one city


def test_one_scale_in_a_list_is_no_study():
    study = plan(demo_config(tiles={"size_px": [64]}))
    assert study.scales == [64]
    assert not study.is_study


def test_scales_that_do_not_nest_are_refused():
    message = raises_input_error(demo_config(tiles={"size_px": [32, 48]}), "`tiles.size_px`")
    assert "32" in message and "48" in message


def test_scales_that_do_not_nest_name_the_smallest_even_when_listed_last():
    raises_input_error(demo_config(tiles={"size_px": [96, 64]}), "`tiles.size_px`", "64 px")


def test_repeated_scale_is_refused():
    raises_input_error(demo_config(tiles={"size_px": [64, 32, 64]}), "`tiles.size_px`", "twice")


# --- seeds --------------------------------------------------------------------------------


def test_seeds_keep_their_order_and_the_first_is_the_reference():
    study = plan(demo_config(deepcluster={"seeds": [5, 3]}))
    assert study.seeds == [5, 3]
    assert study.reference_seed == 5
    assert study.is_study


def test_without_seeds_the_one_seed_is_deepcluster_seed():
    study = plan(demo_config(deepcluster={"seed": 42}))
    assert study.seeds == [42]
    assert study.reference_seed == 42
    assert not study.is_study


def test_empty_seeds_are_refused():
    raises_input_error(demo_config(deepcluster={"seeds": []}), "`deepcluster.seeds`")


def test_repeated_seeds_are_refused():
    raises_input_error(demo_config(deepcluster={"seeds": [3, 5, 3]}), "`deepcluster.seeds`")


def test_several_seeds_show_their_consensus_by_default():
    assert plan(demo_config(deepcluster={"seeds": [5, 3]})).consensus
    assert not plan(demo_config(deepcluster={"seeds": [5]})).consensus
    assert not plan(demo_config()).consensus


def test_consensus_can_be_switched_off_for_several_seeds():
    config = demo_config(deepcluster={"seeds": [5, 3]}, clusters={"consensus": False})
    assert not plan(config).consensus


def test_consensus_of_one_seed_is_refused():
    raises_input_error(
        demo_config(clusters={"consensus": True}), "`clusters.consensus`", "`deepcluster.seeds`"
    )


# --- cities -------------------------------------------------------------------------------


def test_demo_cities_get_their_crs_and_merged_demo_settings():
    study = plan(two_demo_cities())
    assert study.is_study
    assert list(study.cities) == ["accra", "dakar"]
    assert study.demo_cities == ["accra", "dakar"]
    accra, dakar = study.cities["accra"], study.cities["dakar"]
    assert isinstance(accra, City) and isinstance(dakar, City)
    assert accra.name == "accra" and dakar.name == "dakar"
    assert accra.crs == "EPSG:32630"  # the top-level crs
    assert dakar.crs == "EPSG:32628"  # its own
    assert accra.is_demo and dakar.is_demo
    assert accra.inputs is None and dakar.inputs is None
    # The city's own settings over the top-level demo's; resolution and scenes always shared.
    assert dakar.demo["seed"] == 5
    assert dakar.demo["size_m"] == 768
    assert dakar.demo["phenotype_shares"] == [1, 1, 1, 1, 1, 1, 1, 2]
    assert accra.demo["seed"] == 11  # the top-level demo's
    assert accra.demo["size_m"] == 1536  # the schema's default
    assert accra.demo["phenotype_shares"] is None
    for city in (accra, dakar):
        assert city.demo["resolution_m"] == 2.0
        assert city.demo["n_scenes"] == 3
        assert city.demo["enabled"] is True  # even though the top-level demo is disabled


def test_one_city_under_cities_is_a_study():
    study = plan({"cities": {"accra": {"demo": {}}}})
    assert study.is_study
    assert list(study.cities) == ["accra"]


def test_real_city_has_inputs_with_defaults_and_no_demo():
    config = {"cities": {"accra": {"inputs": {"imagery": ["/data/accra/*.tif"]}}}}
    study = plan(config)
    city = study.cities["accra"]
    assert not city.is_demo
    assert city.demo is None
    assert study.demo_cities == []
    assert city.inputs["imagery"] == ["/data/accra/*.tif"]
    assert city.inputs["buildings"] is None
    assert city.inputs["roads"] is None
    assert city.inputs["population"] is None
    assert city.inputs["landsat"] == {"red": None, "nir": None, "qa": None}


def test_real_city_keeps_its_own_landsat_bands():
    landsat = {"red": "b4.tif", "nir": "b5.tif"}
    config = {"cities": {"accra": {"inputs": {"imagery": ["a.tif"], "landsat": landsat}}}}
    city = plan(config).cities["accra"]
    assert city.inputs["landsat"] == {"red": "b4.tif", "nir": "b5.tif", "qa": None}


def test_mixed_demo_and_real_cities():
    config = {
        "cities": {
            "accra": {"inputs": {"imagery": ["a.tif"]}},
            "dakar": {"demo": {"seed": 1}},
        }
    }
    study = plan(config)
    assert study.demo_cities == ["dakar"]
    assert not study.cities["accra"].is_demo


@pytest.mark.parametrize("spec", [None, {}, {"crs": "EPSG:32630"}, {"inputs": {"imagery": []}}])
def test_city_with_neither_demo_nor_inputs_is_refused(spec):
    raises_input_error({"cities": {"lagos": spec}}, "`cities.lagos`")


def test_city_with_both_demo_and_inputs_is_refused():
    config = {"cities": {"lagos": {"demo": {}, "inputs": {"imagery": ["a.tif"]}}}}
    message = raises_input_error(config, "`cities.lagos`")
    assert "demo" in message and "inputs" in message


def test_city_with_a_geographic_crs_is_refused():
    config = {"cities": {"lagos": {"crs": "EPSG:4326", "demo": {}}}}
    raises_input_error(config, "cities.lagos.crs")


def test_city_with_a_crs_that_is_no_crs_is_refused():
    config = {"cities": {"lagos": {"crs": "not a crs", "demo": {}}}}
    raises_input_error(config, "cities.lagos.crs")


def test_city_names_equal_ignoring_case_are_refused():
    config = {"cities": {"Accra": {"demo": {}}, "accra": {"demo": {"seed": 2}}}}
    raises_input_error(config, "`Accra`", "`accra`")


@pytest.mark.parametrize("name", ["pooled", "comparison", "Pooled", "figures"])
def test_reserved_city_names_are_refused(name):
    raises_input_error({"cities": {name: {"demo": {}}}}, f"`cities.{name}`")


@pytest.mark.parametrize("name", ["a/b", "new york", "", "-lead", "../up", "é"])
def test_city_names_that_are_no_simple_folder_name_are_refused(name):
    raises_input_error({"cities": {name: {"demo": {}}}}, f"`cities.{name}`")


@pytest.mark.parametrize("name", ["accra", "Addis_Ababa", "dar-es-salaam", "x2"])
def test_simple_city_names_are_accepted(name):
    assert list(plan({"cities": {name: {"demo": {}}}}).cities) == [name]


def test_unknown_key_inside_a_city_is_refused_by_the_schema():
    config = {"cities": {"lagos": {"demo": {}, "imagery": ["a.tif"]}}}
    with pytest.raises(InputError) as excinfo:
        validate_config(config, SCHEMA)
    message = str(excinfo.value)
    assert "'imagery'" in message
    assert "cities.lagos" in message


def test_unknown_key_inside_a_city_demo_is_refused_by_the_schema():
    config = {"cities": {"lagos": {"demo": {"n_scenes": 3}}}}  # shared: top-level only
    with pytest.raises(InputError, match="n_scenes"):
        validate_config(config, SCHEMA)


# --- validate_config with and without cities ----------------------------------------------


def test_study_config_needs_no_top_level_imagery_nor_demo():
    config = {"demo": {"enabled": False}, "cities": {"accra": {"demo": {}}}}
    validated(config)
    assert config["inputs"]["imagery"] == []
    assert config["demo"]["enabled"] is False
    assert list(study_plan(config).cities) == ["accra"]


def test_config_without_cities_imagery_or_demo_is_refused():
    with pytest.raises(InputError, match=r"`inputs\.imagery`"):
        validate_config({}, SCHEMA)


def test_null_cities_is_the_single_city():
    config = validated(demo_config(cities=None))
    study = study_plan(config)
    assert list(study.cities) == [SINGLE_CITY]
    assert not study.is_study
