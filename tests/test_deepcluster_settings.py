"""DeepCluster settings: one definition (settings.py), from which the CLI, the checkpoint
signature and the rule's param are derived; the config schema agrees with it.

The schema keeps the paper's defaults and the dataclass the reference
implementation's, on purpose; everything else (names, types, choices) must match.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict, fields
from pathlib import Path

import pytest
import yaml

from satcluster.config import validate_config
from satcluster.deepcluster.cli import parse_args
from satcluster.deepcluster.options import (
    RESULT_KEYS,
    STUDY_KEYS,
    WORKFLOW_KEYS,
    argv_from_settings,
    option_fields,
    result_settings,
    runtime_settings,
    settings_from_args,
    value_type,
    workflow_settings,
)
from satcluster.deepcluster.settings import SIGNATURE_KEYS, RunOptions, Settings
from satcluster.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
# Options of the command line only, never config keys (each opted out with workflow=False).
CLI_ONLY = {
    "start_epoch",
    "verbose",
    "data",
    "exp",
    "features_name",
    "nproc",
    "out",
    "threads",
    "log",
}


def schema_properties() -> dict[str, dict]:
    schema = yaml.safe_load(SCHEMA.read_text())
    return schema["properties"]["deepcluster"]["properties"]


def schema_defaults() -> dict:
    return validate_config({"demo": {"enabled": True}}, SCHEMA)["deepcluster"]


def settings_of(argv: list[str]) -> Settings:
    return settings_from_args(parse_args(["tiles.npy", *argv]))


# --- schema and dataclass agree ------------------------------------------------------------------
def test_every_option_is_declared_with_setting():
    for f in option_fields():
        assert f.metadata.get("help"), f"{f.name}: declare it with setting(default, help, ...)"


def test_schema_keys_are_exactly_the_workflow_settings():
    """A new Settings field is a workflow setting unless it says otherwise: it needs a schema key."""
    schema = set(schema_properties()) - set(STUDY_KEYS)
    assert set(WORKFLOW_KEYS) == schema, (
        f"in Settings/RunOptions but not in the schema: {sorted(set(WORKFLOW_KEYS) - schema)}; "
        f"in the schema but no setting: {sorted(schema - set(WORKFLOW_KEYS))}"
    )
    assert {f.name for f in option_fields() if not f.metadata["workflow"]} == CLI_ONLY
    assert "gpus" in {f.name for f in fields(RunOptions)}  # a run option that is a config key


@pytest.mark.parametrize("name", sorted(set(schema_properties()) - set(STUDY_KEYS)))
def test_schema_types_and_choices_fit_the_field(name):
    spec = schema_properties()[name]
    kind, optional = value_type(name)
    allowed = {JSON_TYPES[kind]} | ({"null"} if optional else set())
    if kind is float:
        allowed.add("integer")  # JSON integers are numbers
    schema_types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    assert set(schema_types) <= allowed, f"deepcluster.{name}: schema {schema_types}, {allowed}"
    field_ = next(f for f in option_fields() if f.name == name)
    choices = field_.metadata.get("choices")
    assert (set(spec["enum"]) if "enum" in spec else None) == (set(choices) if choices else None)


def test_signature_keys_are_unchanged():
    """Checkpoints written before settings.py existed are still resumed."""
    assert SIGNATURE_KEYS == [
        "arch",
        "sobel",
        "clustering",
        "k",
        "lr",
        "wd",
        "momentum",
        "batch",
        "reassign",
        "seed",
        "pca_dim",
        "input_size",
        "resume",
    ]


def test_workflow_defaults_are_the_papers_and_reach_training():
    settings = workflow_settings(schema_defaults())
    s = settings_of(argv_from_settings(settings))
    assert (s.lr, s.k, s.batch, s.arch, s.sobel) == (1e-4, 16, 128, "vgg16", True)
    assert (s.epochs, s.features_epoch, s.clustering) == (20, 20, "Kmeans")
    assert asdict(s) == {**asdict(Settings()), **{k: v for k, v in settings.items() if k != "gpus"}}
    # the dataclass keeps the reference implementation's defaults
    ref = Settings()
    assert (ref.lr, ref.k, ref.batch, ref.arch, ref.sobel) == (0.05, 10000, 256, "alexnet", False)


def test_workflow_settings_name_a_missing_or_unknown_key():
    config = schema_defaults()
    assert list(workflow_settings(config)) == WORKFLOW_KEYS
    with pytest.raises(InputError, match=r"deepcluster\.momentum is missing"):
        workflow_settings({k: v for k, v in config.items() if k != "momentum"})
    with pytest.raises(InputError, match=r"deepcluster\.momentun is not a setting"):
        workflow_settings({**config, "momentun": 0.8})


def test_only_settings_that_change_the_result_are_params():
    """workers, checkpoints and compile never rerun training; every other config key does."""
    config = schema_defaults()
    params, runtime = result_settings(config), runtime_settings(config)
    runtime_keys = {"workers", "checkpoints", "compile"}
    assert set(runtime) == runtime_keys == set(WORKFLOW_KEYS) - set(RESULT_KEYS)
    assert list(params) == RESULT_KEYS
    assert {**params, **runtime} == workflow_settings(config)
    assert set(SIGNATURE_KEYS) <= set(RESULT_KEYS)  # what a checkpoint must match reruns too
    with pytest.raises(InputError, match=r"deepcluster\.momentum is missing"):
        result_settings({k: v for k, v in config.items() if k != "momentum"})


# --- the command line --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--arch", "vgg16", "--sobel", "--k", "16", "--lr", "1e-4", "--batch", "128"],
        ["-a", "small", "--nmb_cluster", "4", "--input_size", "none", "--no-amp", "--verbose"],
        ["--wd", "-4.5", "--momentum", "0.8", "--reassign", "0.5", "--resume", "w.pth.tar"],
        ["--epochs", "3", "--features_epoch", "2", "--start_epoch", "1", "--clustering", "PIC"],
        ["--seed", "-7", "--pca_dim", "8", "--checkpoints", "3", "--workers", "0", "--no-sobel"],
    ],
)
def test_parse_settings_argv_parse_round_trips(argv):
    settings = settings_of(argv)
    again = settings_of(argv_from_settings(asdict(settings)))
    assert again == settings
    # through the rule's param: the workflow settings arrive, CLI-only ones keep their defaults
    via_rule = settings_of(argv_from_settings(workflow_settings(_with(settings))))
    workflow_only = {k: v for k, v in asdict(settings).items() if k in WORKFLOW_KEYS}
    assert asdict(via_rule) == {**asdict(Settings()), **workflow_only}


def _with(settings: Settings) -> dict:
    """A deepcluster config block holding ``settings`` (and a --gpus)."""
    values = asdict(settings)
    return {**{key: values[key] for key in WORKFLOW_KEYS if key in values}, "gpus": 0}


def test_aliases_and_negations_parse():
    assert settings_of(["--nmb_cluster", "7"]).k == settings_of(["--k", "7"]).k == 7
    assert settings_of(["-a", "small"]).arch == settings_of(["--arch", "small"]).arch == "small"
    assert settings_of(["--sobel"]).sobel and not settings_of(["--no-sobel"]).sobel
    assert not settings_of([]).sobel and settings_of([]).amp and not settings_of(["--no-amp"]).amp
    for none in ("none", "None", "null"):
        assert settings_of(["--input_size", none]).input_size is None
    assert settings_of(["--input_size", "64"]).input_size == 64
    assert settings_of([]).resume is None and settings_of(["--resume", ""]).resume is None
    with pytest.raises(SystemExit):
        parse_args(["tiles.npy", "--arch", "resnet"])


def test_run_options_parse_and_travel():
    args = parse_args(["d", "--exp", "e", "--out", "o", "--gpus", "2", "--nproc", "3"])
    assert (args.data, args.exp, args.out, args.gpus, args.nproc) == ("d", "e", "o", 2, 3)
    defaults = parse_args(["d"])
    assert (defaults.exp, defaults.features_name, defaults.gpus, defaults.threads) == (
        "",
        "features.npy",
        None,
        None,
    )
    argv = argv_from_settings({"data": "d", "gpus": 2, "threads": 4, "log": "x.log"})
    assert argv == ["d", "--gpus", "2", "--threads", "4", "--log", "x.log"]
    assert argv_from_settings({"k": 16, "sobel": False, "input_size": None, "resume": None}) == [
        "--k",
        "16",
        "--no-sobel",
        "--input_size",
        "none",
    ]
    with pytest.raises(ValueError, match="not a DeepCluster option"):
        argv_from_settings({"momentun": 0.9})


def test_the_rule_file_can_import_the_settings_without_torch():
    code = (
        "import sys; import satcluster.deepcluster.options; "
        "assert 'torch' not in sys.modules and 'faiss' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
