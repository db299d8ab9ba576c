"""Config validation: defaults come from the schema, typos and wrong types stop with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from satcluster.config import validate_config
from satcluster.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _demo_config(**overrides) -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(overrides)
    return config


def test_shipped_configs_are_valid():
    validate_config(_demo_config(), SCHEMA)
    accra = yaml.safe_load((ROOT / "config" / "accra.yaml").read_text())
    accra["inputs"]["imagery"] = ["/data/accra/*.tif"]  # the template leaves paths to fill in
    validate_config(accra, SCHEMA)


def test_defaults_are_filled_from_the_schema():
    config = validate_config({"demo": {"enabled": True}}, SCHEMA)
    assert config["crs"] == "EPSG:32630"
    assert config["tiles"]["size_px"] == 256
    assert config["clusters"]["ks"] == [2, 4, 6, 8, 10, 12]
    assert config["clusters"]["final_k"] == 8
    assert config["deepcluster"]["gpus"] == 3
    assert config["deepcluster"]["wd"] == -5
    assert config["inputs"]["landsat"] == {"red": None, "nir": None, "qa": None}


def test_user_values_win_over_defaults():
    config = validate_config(_demo_config(), SCHEMA)
    assert config["tiles"]["size_px"] == 64
    assert config["deepcluster"]["arch"] == "small"


def test_unknown_key_is_named_with_the_allowed_ones():
    with pytest.raises(InputError, match=r"'size_pxx' under `tiles`.*size_px"):
        validate_config(_demo_config(tiles={"size_pxx": 64}), SCHEMA)


def test_unknown_top_level_block():
    with pytest.raises(InputError, match=r"'figure' under `\(top level\)`"):
        validate_config(_demo_config(figure={}), SCHEMA)


def test_wrong_type_names_the_key():
    with pytest.raises(InputError, match=r"`tiles.size_px` is invalid"):
        validate_config(_demo_config(tiles={"size_px": "big"}), SCHEMA)


def test_enum_is_checked():
    with pytest.raises(InputError, match=r"`deepcluster.arch` is invalid"):
        validate_config(_demo_config(deepcluster={"arch": "resnet"}), SCHEMA)


def test_final_k_must_be_among_ks():
    with pytest.raises(InputError, match=r"clusters.final_k"):
        validate_config(_demo_config(clusters={"ks": [2, 4], "final_k": 8}), SCHEMA)


def test_features_epoch_after_last_epoch():
    with pytest.raises(InputError, match=r"deepcluster.features_epoch"):
        validate_config(_demo_config(deepcluster={"epochs": 3, "features_epoch": 5}), SCHEMA)


def test_real_run_needs_imagery():
    with pytest.raises(InputError, match=r"inputs.imagery"):
        validate_config({"demo": {"enabled": False}}, SCHEMA)


def test_cluster_names_keys_must_be_ids():
    with pytest.raises(InputError, match=r"clusters.names"):
        validate_config(_demo_config(clusters={"names": {"water": "6"}}), SCHEMA)


def test_an_imagery_entry_may_be_single_band_files():
    bands = {"red": "r.tif", "green": "g.tif", "blue": "b.tif", "nir": "n.tif"}
    config = validate_config({"inputs": {"imagery": ["scene.tif", bands]}}, SCHEMA)
    assert config["inputs"]["imagery"][1] == bands
    with pytest.raises(InputError, match=r"inputs\.imagery\.0"):
        validate_config({"inputs": {"imagery": [{"red": "r.tif", "green": "g.tif"}]}}, SCHEMA)


def test_study_configs_are_valid():
    for name in ("study_demo.yaml",):
        study = yaml.safe_load((ROOT / "config" / name).read_text())
        validate_config({**_demo_config(), **study}, SCHEMA)
