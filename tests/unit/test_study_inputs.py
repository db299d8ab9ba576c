"""satcluster.study.inputs: a city's input files from its config, without Snakemake.

Imagery scenes (paths, globs, band files), the covariate sources' files (demo or real, each
missing one named by its config key), the NDVI product and its bands, the active sources.
The messages are the workflow's: users and the workflow tests read them word for word.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from satcluster.config import validate_config
from satcluster.demo import DEMO_FILE_NAMES
from satcluster.errors import InputError
from satcluster.study.config import SINGLE_CITY, City, study_plan
from satcluster.study.inputs import (
    COVARIATE_SOURCES,
    CityInputs,
    active_sources,
    boa_add_offset,
    city_inputs,
    inputs_key,
    job_city,
    ndvi_files,
    ndvi_product,
    scene_paths,
    source_file,
    vector_files,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
LANDSAT = {"red": "b4.tif", "nir": "b5.tif", "qa": "qa.tif"}
SENTINEL2 = {"red": "B04.jp2", "nir": "B08.jp2", "scl": "SCL.jp2"}


def touch(folder: Path, *names: str) -> list[str]:
    paths = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        paths.append(str(path))
    return paths


def real_config(folder: Path, **inputs) -> dict:
    """A validated one-city config with these inputs (paths relative to ``folder``)."""

    def under(value):
        if isinstance(value, str):
            return str(folder / value)
        if isinstance(value, list):
            return [under(v) for v in value]
        if isinstance(value, dict):
            return {k: v if k == "boa_add_offset" else under(v) for k, v in value.items()}
        return value

    config = {
        "demo": {"enabled": False},
        "inputs": {key: under(value) for key, value in inputs.items()},
    }
    return validate_config(config, SCHEMA)


def real_inputs(folder: Path, **inputs) -> CityInputs:
    config = real_config(folder, **inputs)
    (city,) = study_plan(config).cities.values()
    return city_inputs(city, config, folder / "demo")


def demo_inputs(folder: Path, n_scenes: int = 2) -> CityInputs:
    config = validate_config({"demo": {"enabled": True, "n_scenes": n_scenes}}, SCHEMA)
    return city_inputs(study_plan(config).cities[SINGLE_CITY], config, folder)


def raises(message: str):
    """pytest.raises(InputError) with exactly ``message``."""
    return pytest.raises(InputError, match=f"^{re.escape(message)}$")


# --- where messages point ------------------------------------------------------------------


def test_inputs_key_names_the_city_only_in_a_study_of_named_cities():
    city = City("accra", "EPSG:32630", None, {"imagery": ["a.tif"]})
    assert inputs_key(city, {"cities": {"accra": {}}}) == "cities.accra.inputs"
    assert inputs_key(city, {"cities": None}) == "inputs"
    assert inputs_key(city, {}) == "inputs"


def test_job_city_is_the_wildcards_city_in_a_study_else_the_only_one():
    study = study_plan(
        validate_config({"cities": {"accra": {"demo": {}}, "dakar": {"demo": {"seed": 2}}}}, SCHEMA)
    )
    assert job_city(study, {"city": "dakar", "scale": "64"}).name == "dakar"
    single = study_plan(validate_config({"demo": {"enabled": True}}, SCHEMA))
    assert job_city(single, {"chunk": "0"}).name == SINGLE_CITY


# --- imagery ------------------------------------------------------------------------------


def test_demo_scenes_are_the_demo_folders_files(tmp_path: Path):
    scenes = scene_paths(demo_inputs(tmp_path, n_scenes=3))
    assert scenes == {f"scene_{i}": str(tmp_path / "imagery" / f"scene_{i}.tif") for i in range(3)}


def test_scenes_in_priority_order_globs_sorted_names_made_unique(tmp_path: Path):
    b, a, c = touch(tmp_path, "x/b.tif", "x/a.tif", "y/a.tif")
    red, green, blue = touch(tmp_path, "bands/a.tif", "bands/g.tif", "bands/b.tif")
    inputs = real_inputs(
        tmp_path,
        imagery=[
            "x/*.tif",
            {"red": "bands/a.tif", "green": "bands/g.tif", "blue": "bands/b.tif"},
            "y/a.tif",
        ],
    )
    scenes = scene_paths(inputs)
    assert list(scenes.items()) == [
        ("a", a),
        ("b", b),
        ("a_", {"red": red, "green": green, "blue": blue}),  # named after the red band
        ("a__", c),
    ]


def test_band_files_keep_red_green_blue_only(tmp_path: Path):
    red, green, blue, _ = touch(tmp_path, "r.tif", "g.tif", "b.tif", "n.tif")
    bands = {"blue": "b.tif", "nir": "n.tif", "green": "g.tif", "red": "r.tif"}
    scenes = scene_paths(real_inputs(tmp_path, imagery=[bands]))
    assert list(scenes["r"].items()) == [("red", red), ("green", green), ("blue", blue)]


def test_an_imagery_entry_that_matches_no_file_is_named(tmp_path: Path):
    pattern = str(tmp_path / "nowhere" / "*.tif")
    with raises(
        f"config: `inputs.imagery` entry {pattern!r} matches no file; fix the path or glob."
    ):
        scene_paths(real_inputs(tmp_path, imagery=["nowhere/*.tif"]))
    path = str(tmp_path / "missing.tif")
    with raises(f"config: `inputs.imagery` entry {path!r} matches no file; fix the path or glob."):
        scene_paths(real_inputs(tmp_path, imagery=["missing.tif"]))


def test_missing_band_files_are_listed_under_the_citys_key(tmp_path: Path):
    touch(tmp_path, "r.tif")
    config = validate_config(
        {
            "cities": {
                "lagos": {
                    "inputs": {
                        "imagery": [
                            {
                                "red": str(tmp_path / "r.tif"),
                                "green": str(tmp_path / "g.tif"),
                                "blue": str(tmp_path / "b.tif"),
                            }
                        ]
                    }
                }
            }
        },
        SCHEMA,
    )
    inputs = city_inputs(study_plan(config).cities["lagos"], config, tmp_path / "demo")
    missing = f"{tmp_path / 'g.tif'}, {tmp_path / 'b.tif'}"
    with raises(
        f"config: `cities.lagos.inputs.imagery` band file(s) {missing} do not exist; fix the paths."
    ):
        scene_paths(inputs)


# --- covariate sources ----------------------------------------------------------------------


def test_a_demo_citys_sources_are_the_demo_files(tmp_path: Path):
    inputs = demo_inputs(tmp_path)
    assert source_file(inputs, "population") == str(tmp_path / DEMO_FILE_NAMES["population"])
    assert source_file(inputs, "landsat_qa") == str(tmp_path / DEMO_FILE_NAMES["landsat_qa"])
    assert vector_files(inputs, "roads") == [str(tmp_path / DEMO_FILE_NAMES["roads"])]
    assert ndvi_files(inputs) == {
        band: str(tmp_path / DEMO_FILE_NAMES[f"landsat_{band}"]) for band in ("red", "nir", "qa")
    }
    assert active_sources(inputs.city) == list(COVARIATE_SOURCES)
    assert ndvi_product(inputs.city) == "landsat"
    assert boa_add_offset(inputs.city) is None


def test_a_real_citys_sources_are_its_files(tmp_path: Path):
    (population,) = touch(tmp_path, "pop.tif")
    b2, b1, extra = touch(tmp_path, "b/2.gpkg", "b/1.gpkg", "extra.gpkg")
    inputs = real_inputs(
        tmp_path, imagery=["pop.tif"], population="pop.tif", buildings=["b/*.gpkg", "extra.gpkg"]
    )
    assert source_file(inputs, "population") == population
    assert vector_files(inputs, "buildings") == [b1, b2, extra]


def test_a_missing_or_unset_source_is_named_with_its_key(tmp_path: Path):
    touch(tmp_path, "img.tif")
    inputs = real_inputs(tmp_path, imagery=["img.tif"], population="nope.tif")
    with raises(
        f"config: `inputs.population` points to {tmp_path / 'nope.tif'}, which does not exist; "
        "fix the path."
    ):
        source_file(inputs, "population")
    with raises(
        "config: `inputs.roads` is not set; give the path to your file "
        "(see config/accra.yaml) or use the demo city."
    ):
        vector_files(inputs, "roads")
    with raises(
        "config: `inputs.landsat.red` is not set; give the path to your file "
        "(see config/accra.yaml) or use the demo city."
    ):
        source_file(inputs, "landsat_red")


def test_a_vector_glob_that_matches_nothing_is_named(tmp_path: Path):
    touch(tmp_path, "img.tif")
    inputs = real_inputs(tmp_path, imagery=["img.tif"], buildings=["none/*.gpkg"])
    pattern = str(tmp_path / "none" / "*.gpkg")
    with raises(
        f"config: `inputs.buildings` entry {pattern!r} matches no file; fix the path or glob."
    ):
        vector_files(inputs, "buildings")


def test_active_sources_are_the_configured_ones_in_source_order(tmp_path: Path):
    touch(tmp_path, "img.tif")
    bare = real_inputs(tmp_path, imagery=["img.tif"])
    assert active_sources(bare.city) == []
    some = real_inputs(
        tmp_path, imagery=["img.tif"], sentinel2=SENTINEL2, roads="r.osm", population="p.tif"
    )
    assert active_sources(some.city) == ["roads", "population", "ndvi"]


# --- NDVI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "product"),
    [
        ({}, None),
        ({"landsat": LANDSAT}, "landsat"),
        ({"sentinel2": SENTINEL2}, "sentinel2"),
        ({"landsat": {"red": "b4.tif", "nir": "b5.tif"}}, None),  # all bands or none
        ({"landsat": {"red": "b4.tif"}, "sentinel2": SENTINEL2}, "sentinel2"),
    ],
)
def test_the_ndvi_product_is_the_one_with_every_band(tmp_path: Path, inputs, product):
    city = real_inputs(tmp_path, imagery=["img.tif"], **inputs).city
    assert ndvi_product(city) == product
    assert ("ndvi" in active_sources(city)) == (product is not None)


def test_two_ndvi_products_stop_with_one_message(tmp_path: Path):
    city = real_inputs(tmp_path, imagery=["img.tif"], landsat=LANDSAT, sentinel2=SENTINEL2).city
    message = (
        "config: city 'city' gives both `inputs.landsat` and `inputs.sentinel2`; "
        "NDVI comes from one product: remove the other."
    )
    with raises(message):
        ndvi_product(city)
    with raises(message):
        active_sources(city)


def test_sentinel2_band_files_and_offset(tmp_path: Path):
    red, nir, scl = touch(tmp_path, "B04.jp2", "B08.jp2", "SCL.jp2")
    inputs = real_inputs(
        tmp_path, imagery=["img.tif"], sentinel2={**SENTINEL2, "boa_add_offset": -1000}
    )
    files = ndvi_files(inputs)
    assert list(files.items()) == [("red", red), ("nir", nir), ("scl", scl)]
    assert boa_add_offset(inputs.city) == -1000
    assert ndvi_files(real_inputs(tmp_path, imagery=["img.tif"])) == {}


def test_a_missing_ndvi_band_is_named_with_its_key(tmp_path: Path):
    touch(tmp_path, "B04.jp2", "SCL.jp2")
    inputs = real_inputs(tmp_path, imagery=["img.tif"], sentinel2=SENTINEL2)
    with raises(
        f"config: `inputs.sentinel2.nir` points to {tmp_path / 'B08.jp2'}, which does not "
        "exist; fix the path."
    ):
        ndvi_files(inputs)
