"""How settings travel, derived from their fields: argparse options, argv, the rule's param.

``python -m satcluster.deepcluster`` parses the options that ``add_arguments``
derives from ``Settings`` and ``RunOptions``; the workflow passes the settings
that can change the result to the script as one param, ``result_settings(...)``,
which the script completes with ``runtime_settings`` of the config and turns
back into those options with ``argv_from_settings``.
So a hand-run experiment and the workflow share one code path, and a setting
is named, typed and documented only in settings.py: ``config_schema`` derives
the ``deepcluster`` block of the config schema from the same fields (written
into workflow/schemas/config.schema.yaml by tools/settings_docs.py).

No torch and no Snakemake here: the rule file imports this module.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import Field, fields
from typing import Any

from satcluster.deepcluster.settings import RunOptions, Settings, StudyOptions, config_default
from satcluster.errors import InputError

__all__ = [
    "CONFIG_KEYS",
    "RESULT_KEYS",
    "STUDY_KEYS",
    "WORKFLOW_KEYS",
    "add_arguments",
    "argv_from_settings",
    "config_fields",
    "config_property",
    "config_schema",
    "option_fields",
    "result_settings",
    "runtime_settings",
    "settings_from_args",
    "value_type",
    "workflow_settings",
]


def option_fields() -> list[Field]:
    """Every option: the fields of ``Settings``, then those of ``RunOptions``."""
    return [*fields(Settings), *fields(RunOptions)]


def config_fields() -> list[Field]:
    """The fields of the ``deepcluster`` config block: the workflow options, then the study's."""
    return [f for f in option_fields() if f.metadata.get("workflow", True)] + list(
        fields(StudyOptions)
    )


_HINTS = {
    **typing.get_type_hints(Settings),
    **typing.get_type_hints(RunOptions),
    **typing.get_type_hints(StudyOptions),
}
_BY_NAME = {f.name: f for f in option_fields()}
# The config keys deepcluster.* (and params of the train_deepcluster rule), in field order.
WORKFLOW_KEYS = [f.name for f in option_fields() if f.metadata.get("workflow", True)]
# deepcluster.* config keys of a study, not of one training run (satcluster.study.config reads them).
STUDY_KEYS = [f.name for f in fields(StudyOptions)]
# Every key of the deepcluster config block, in the order of the schema and config/README.md.
CONFIG_KEYS = [f.name for f in config_fields()]
# Those that can change what training writes: the rule's params (a change retrains).
RESULT_KEYS = [key for key in WORKFLOW_KEYS if _BY_NAME[key].metadata.get("rerun", True)]


def value_type(name: str) -> tuple[type, bool]:
    """The type of option ``name`` without None, and whether None is allowed."""
    hint = _HINTS[name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


def config_property(f: Field) -> dict[str, Any]:
    """The JSON schema of config key ``deepcluster.<f.name>``: type, choices, range, default.

    The description is the field's ``doc``; null is allowed where ``config_null`` says so
    (default: where the type allows None).
    """
    kind, optional = value_type(f.name)
    m = f.metadata
    json_type = _JSON_TYPES[typing.get_origin(kind) or kind]
    null = optional if m.get("config_null") is None else m["config_null"]
    spec: dict[str, Any] = {"type": [json_type, "null"] if null else json_type}
    if m.get("choices"):
        spec["enum"] = list(m["choices"])
    spec.update(m.get("range") or {})
    if json_type == "array":
        (item,) = typing.get_args(kind)
        spec["items"] = {"type": _JSON_TYPES[item]}
    spec["default"] = config_default(f)
    spec["description"] = m["doc"]
    return spec


def config_schema() -> dict[str, Any]:
    """The JSON schema of the ``deepcluster`` config block (an unknown key is refused)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "properties": {f.name: config_property(f) for f in config_fields()},
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every option; those the reference main.py lacks in a group of their own."""
    added = parser.add_argument_group("additions to the reference options")
    for f in option_fields():
        m = f.metadata
        target = added if m.get("added") else parser
        if m.get("positional"):
            target.add_argument(f.name, metavar=m["metavar"], help=m["help"])
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": f.default, "help": m["help"]}
        kind, optional = value_type(f.name)
        if m.get("action"):
            kwargs["action"] = m["action"]
        elif kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind is not str:
            # 'none' must be sayable when the default is not None (--input_size none)
            kwargs["type"] = _optional(kind) if optional and f.default is not None else kind
        if m.get("choices"):
            kwargs["choices"] = m["choices"]
        if m.get("metavar"):
            kwargs["metavar"] = m["metavar"]
        target.add_argument(*_flags(f), **kwargs)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The ``Settings`` of parsed options (an empty text for an optional one means unset)."""
    values = {}
    for f in fields(Settings):
        value = getattr(args, f.name)
        values[f.name] = None if value == "" and value_type(f.name)[1] else value
    return Settings(**values)


def workflow_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``deepcluster`` config block, key by key, checked against the settings.

    Parameters
    ----------
    config : ``config["deepcluster"]``, validated against the schema (defaults filled in).

    Returns a plain dict with every key of ``WORKFLOW_KEYS`` (in that order); the
    study's keys (``STUDY_KEYS``) are left out.
    Raises InputError on a missing or unknown key.
    """
    missing = [key for key in WORKFLOW_KEYS if key not in config]
    unknown = [key for key in config if key not in WORKFLOW_KEYS + STUDY_KEYS]
    if missing or unknown:
        problems = [f"deepcluster.{key} is missing" for key in missing]
        problems += [f"deepcluster.{key} is not a setting" for key in unknown]
        raise InputError(
            f"config: {'; '.join(problems)}; see config/README.md for the deepcluster keys."
        )
    return {key: config[key] for key in WORKFLOW_KEYS}


def result_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's one ``settings`` param: the keys of ``RESULT_KEYS`` (a change retrains)."""
    values = workflow_settings(config)
    return {key: values[key] for key in RESULT_KEYS}


def runtime_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The other workflow keys (``workers``, ``checkpoints``): read by the script, not params.

    They change how training runs (threads, how often it checkpoints), never
    what it writes, so that changing them must not rerun a day of training.
    """
    values = workflow_settings(config)
    return {key: values[key] for key in WORKFLOW_KEYS if key not in RESULT_KEYS}


def argv_from_settings(values: Mapping[str, Any]) -> list[str]:
    """Command-line options that ``add_arguments`` parses back into ``values``.

    Parameters
    ----------
    values : option name -> value, e.g. ``workflow_settings(...)`` or ``asdict(settings)``.

    None is left out when it is the default and written ``none`` otherwise.
    """
    argv: list[str] = []
    for name, value in values.items():
        if name not in _BY_NAME:
            raise ValueError(f"{name!r} is not a DeepCluster option")
        f = _BY_NAME[name]
        if f.metadata.get("positional"):
            argv.insert(0, str(value))
            continue
        flag = _argv_flag(f)
        if f.metadata.get("action") == "store_true":
            argv += [flag] if value else []
        elif value_type(name)[0] is bool:
            argv.append(flag if value else f"--no-{flag[2:]}")
        elif value is None:
            argv += [] if f.default is None else [flag, "none"]
        else:
            argv += [flag, str(value)]
    return argv


def _flags(f: Field) -> tuple[str, ...]:
    return f.metadata.get("flags") or (f"--{f.name}",)


def _argv_flag(f: Field) -> str:
    """The spelling written in argv: ``--<name>`` when it is one, else the first long flag."""
    flags = _flags(f)
    own = f"--{f.name}"
    return own if own in flags else next(x for x in flags if x.startswith("--"))


def _optional(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "null", "") else kind(text)

    parse.__name__ = f"optional_{kind.__name__}"
    return parse
