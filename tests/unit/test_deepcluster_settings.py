"""DeepCluster settings: one definition (settings.py), from which the CLI, the checkpoint
signature, the rule's param, the config schema's deepcluster block and its table in
config/README.md are derived (the last two written by tools/settings_docs.py).

The schema keeps the paper's defaults (a field's ``config_default``) and the dataclass the
reference implementation's, on purpose; everything else (names, types, choices, ranges)
must match, and each range is checked alike by the schema and by ``check_values``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path

import pytest
import yaml

from satcluster.config import validate_config
from satcluster.deepcluster.cli import parse_args
from satcluster.deepcluster.options import (
    CONFIG_KEYS,
    RESULT_KEYS,
    STUDY_KEYS,
    WORKFLOW_KEYS,
    argv_from_settings,
    config_fields,
    option_fields,
    result_settings,
    runtime_settings,
    settings_from_args,
    value_type,
    workflow_settings,
)
from satcluster.deepcluster.settings import (
    SIGNATURE_KEYS,
    RunOptions,
    Settings,
    StudyOptions,
    check_epochs,
    check_settings,
    check_values,
    config_default,
)
from satcluster.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
README = ROOT / "config" / "README.md"
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
RANGES = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
# The deepcluster block's defaults, with their types (-5, not -5.0: the rule's param, so a
# change would retrain): what the schema filled in before it was generated.
PAPER_DEFAULTS = {
    "arch": "vgg16",
    "sobel": True,
    "clustering": "Kmeans",
    "k": 16,
    "lr": 0.0001,
    "wd": -5,
    "momentum": 0.9,
    "batch": 128,
    "epochs": 20,
    "features_epoch": 20,
    "reassign": 1,
    "workers": 4,
    "seed": 31,
    "seeds": None,
    "pca_dim": 256,
    "input_size": 224,
    "gpus": 3,
    "amp": True,
    "compile": False,
    "checkpoints": 25000,
    "resume": None,
}
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


def config_field(name: str):
    return next(f for f in config_fields() if f.name == name)


def load_tool():
    path = ROOT / "tools" / "settings_docs.py"
    spec = importlib.util.spec_from_file_location("settings_docs", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


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


def test_study_keys_are_the_study_options():
    """deepcluster.seeds: a config key of a study, declared like a setting, no CLI option."""
    assert STUDY_KEYS == [f.name for f in fields(StudyOptions)] == ["seeds"]
    assert list(schema_properties()) == CONFIG_KEYS == WORKFLOW_KEYS + STUDY_KEYS
    assert not set(STUDY_KEYS) & {f.name for f in option_fields()}


@pytest.mark.parametrize("name", sorted(schema_properties()))
def test_schema_types_and_choices_fit_the_field(name):
    spec = schema_properties()[name]
    kind, optional = value_type(name)
    kind = getattr(kind, "__origin__", kind)  # list[int] -> list
    allowed = {JSON_TYPES[kind]} | ({"null"} if optional else set())
    if kind is float:
        allowed.add("integer")  # JSON integers are numbers
    schema_types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    assert set(schema_types) <= allowed, f"deepcluster.{name}: schema {schema_types}, {allowed}"
    choices = config_field(name).metadata.get("choices")
    assert spec.get("enum") == (list(choices) if choices else None)


@pytest.mark.parametrize("name", sorted(schema_properties()))
def test_schema_defaults_ranges_and_descriptions_are_the_fields(name):
    spec, f = schema_properties()[name], config_field(name)
    default = config_default(f)
    assert spec["default"] == default and type(spec["default"]) is type(default), name
    assert {k: spec[k] for k in RANGES if k in spec} == f.metadata["range"], name
    assert spec["description"] == f.metadata["doc"] and "%(" not in spec["description"]
    assert f.metadata["reruns"].startswith("nothing") == (not f.metadata["rerun"]), name


def test_schema_defaults_are_unchanged():
    """The generated schema fills in the same values, of the same types, as the hand-written one."""
    defaults = schema_defaults()
    assert defaults == PAPER_DEFAULTS
    assert {k: type(v) for k, v in defaults.items()} == {
        k: type(v) for k, v in PAPER_DEFAULTS.items()
    }
    block = yaml.safe_load(SCHEMA.read_text())["properties"]["deepcluster"]
    assert (block["type"], block["additionalProperties"], block["default"]) == ("object", False, {})


def test_schema_and_readme_are_generated_from_the_settings():
    """tools/settings_docs.py --check (also in `make lint`): nobody edited one and not the other."""
    tool = load_tool()
    stale = [str(path.relative_to(ROOT)) for path in tool.stale_files()]
    assert not stale, f"{stale} differ from the settings: run `make settings-docs`"
    assert tool.main(["--check"]) == 0


def test_readme_table_lists_every_key_with_its_default():
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `deepcluster.")]
    cells = [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]
    assert [c[0] for c in cells] == [f"`deepcluster.{key}`" for key in CONFIG_KEYS]
    for (_, default, meaning, reruns), key in zip(cells, CONFIG_KEYS, strict=True):
        assert yaml.safe_load(default.strip("`")) == PAPER_DEFAULTS[key], key
        assert (meaning, reruns) == (
            config_field(key).metadata["doc"],
            config_field(key).metadata["reruns"],
        )


def test_generator_check_names_a_stale_file_and_rewrites_only_its_part(tmp_path, monkeypatch):
    tool = load_tool()
    copies = []
    for region in tool.REGIONS:
        copy = tmp_path / region.path.name
        text = region.path.read_text()
        assert region.text() == text
        start = text.index(region.begin) + len(region.begin)
        copy.write_text(text[:start] + text[start:].replace("training", "trainin", 1))
        copies.append((replace(region, path=copy), text))
    monkeypatch.setattr(tool, "REGIONS", [region for region, _ in copies])
    assert tool.stale_files() == [region.path for region, _ in copies]
    assert tool.main(["--check"]) == 1
    assert tool.main([]) == 0
    assert tool.main(["--check"]) == 0
    for region, text in copies:
        assert region.path.read_text() == text
    # a removed marker line stops the generator, naming the file
    copy = copies[0][0].path
    copy.write_text(copy.read_text().replace(copies[0][0].end, "  # the end"))
    with pytest.raises(SystemExit, match="marker lines"):
        tool.main(["--check"])


# --- each choice and range is declared once and checked alike ---------------------------------
RANGED = [(f.name, kw, bound) for f in config_fields() for kw, bound in f.metadata["range"].items()]
OUTSIDE = {"minimum": -1, "maximum": 1, "exclusiveMinimum": 0, "exclusiveMaximum": 0}
INSIDE = {"minimum": 0, "maximum": 0, "exclusiveMinimum": 1, "exclusiveMaximum": -1}


def _options_with(name: str, value):
    """The default options object that has field ``name``, with ``value`` there."""
    owner = next(c for c in (Settings, RunOptions, StudyOptions) if name in c.__dataclass_fields__)
    return replace(owner(), **{name: value})


def _config_with(name: str, value) -> dict:
    deepcluster = {name: value, **({"features_epoch": value} if name == "epochs" else {})}
    return {"demo": {"enabled": True}, "deepcluster": deepcluster}


def test_ranges_are_the_schemas():
    """The ranges declared in settings.py: those the hand-written schema had."""
    assert {(name, kw): bound for name, kw, bound in RANGED} == {
        ("k", "minimum"): 2,
        ("lr", "exclusiveMinimum"): 0,
        ("momentum", "minimum"): 0,
        ("batch", "minimum"): 1,
        ("epochs", "minimum"): 1,
        ("reassign", "exclusiveMinimum"): 0,
        ("workers", "minimum"): 0,
        ("pca_dim", "minimum"): 2,
        ("input_size", "minimum"): 16,
        ("checkpoints", "minimum"): 1,
        ("features_epoch", "minimum"): 1,
        ("gpus", "minimum"): 0,
    }


@pytest.mark.parametrize(("name", "keyword", "bound"), RANGED)
def test_a_range_is_checked_alike_by_the_config_and_the_command_line(name, keyword, bound):
    outside, inside = bound + OUTSIDE[keyword], bound + INSIDE[keyword]
    with pytest.raises(InputError, match=rf"`deepcluster\.{name}` is invalid"):
        validate_config(_config_with(name, outside), SCHEMA)
    with pytest.raises(InputError, match=rf"--\S*{name} \(deepcluster\.{name}\) must be"):
        check_values(_options_with(name, outside))
    assert validate_config(_config_with(name, inside), SCHEMA)["deepcluster"][name] == inside
    check_values(_options_with(name, inside))


def test_choices_are_checked_alike_by_the_config_and_the_command_line():
    for name, choices in (
        ("arch", ("vgg16", "alexnet", "small")),
        ("clustering", ("Kmeans", "PIC")),
    ):
        assert config_field(name).metadata["choices"] == choices
        with pytest.raises(InputError, match=rf"`deepcluster\.{name}` is invalid"):
            validate_config(_config_with(name, "other"), SCHEMA)
        with pytest.raises(InputError, match=rf"unknown --{name} 'other'; choose one of"):
            check_values(_options_with(name, "other"))
    check_values(Settings())
    check_values(RunOptions())
    check_values(StudyOptions())


def test_check_settings_messages():
    ok = replace(Settings(), arch="small", k=4, epochs=3, input_size=None)
    check_settings(ok, 100, (32, 32), 32, 3)
    cases = [
        ({"batch": 0}, r"^--batch \(deepcluster\.batch\) must be at least 1\.$"),
        ({"reassign": 0.0}, r"^--reassign \(deepcluster\.reassign\) must be positive\.$"),
        ({"k": 1}, r"^--nmb_cluster/--k \(deepcluster\.k\) must be at least 2\.$"),
        ({"k": 101}, r"^--nmb_cluster/--k \(deepcluster\.k\) = 101 must be in 2\.\.100 "),
        ({"arch": "resnet"}, r"^unknown --arch 'resnet'; choose one of vgg16, alexnet, small\.$"),
        ({"features_epoch": 5}, r"deepcluster\.features_epoch\) = 5 is after the last epoch"),
    ]
    for change, message in cases:
        with pytest.raises(InputError, match=message):
            check_settings(
                replace(ok, **change), 100, (32, 32), 32, change.get("features_epoch", 3)
            )
    check_settings(replace(ok, k=101, clustering="PIC"), 100, (32, 32), 32, 3)  # k <= n: k-means


def test_features_epoch_after_the_last_is_one_check_for_config_and_command_line():
    with pytest.raises(InputError) as cli:
        check_epochs(5, 3)
    config = {"demo": {"enabled": True}, "deepcluster": {"epochs": 3, "features_epoch": 5}}
    with pytest.raises(InputError) as from_config:
        validate_config(config, SCHEMA)
    assert str(from_config.value) == f"config: {cli.value}"
    check_epochs(3, 3)
    with pytest.raises(InputError, match="must be between 2 and --epochs = 3"):
        check_epochs(1, 3, start_epoch=2)


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
