"""Config validation against the workflow's JSON schema, with defaults filled in.

The schema's ``deepcluster`` block is generated from the DeepCluster settings
(satcluster.deepcluster.settings; tools/settings_docs.py), so their choices and
ranges are checked here by the schema, and their one cross-key check by
``check_epochs``, the function that checks the command line's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from satcluster.deepcluster.settings import check_epochs
from satcluster.errors import InputError

__all__ = ["check_unique_keys", "validate_config"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a mapping with a key twice (PyYAML keeps the last)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise InputError(
                f"config: the key {key!r} appears twice in one mapping (lines "
                f"{seen[key] + 1} and {key_node.start_mark.line + 1} of "
                f"{key_node.start_mark.name}); YAML would silently keep the last: give "
                "each entry (e.g. each city) its own name."
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def check_unique_keys(path: str | Path) -> None:
    """InputError naming the key and lines when a config file repeats a key in a mapping."""
    with open(path) as f:
        yaml.load(f, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def _with_defaults(validator_class: type) -> type:
    """Extend a jsonschema validator so that it fills in `default` values."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = _copy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Validate ``config`` in place, fill defaults, and return it.

    Raises InputError with one message naming the offending key and the fix.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = _with_defaults(jsonschema.Draft7Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = _key_path(err)
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            allowed = ", ".join(sorted(err.schema.get("properties", {})))
            raise InputError(
                f"config: unknown key(s) {', '.join(map(repr, extra))} under `{key}`; "
                f"allowed keys are: {allowed}. See config/README.md."
            )
        raise InputError(
            f"config: `{key}` is invalid: {err.message}. See config/README.md for the expected value."
        )
    _check_consistency(config)
    return config


def _check_consistency(config: dict) -> None:
    """Cross-key checks that a JSON schema cannot express."""
    clusters = config["clusters"]
    if clusters["final_k"] not in clusters["ks"]:
        raise InputError(
            f"config: `clusters.final_k` ({clusters['final_k']}) must be one of `clusters.ks` "
            f"({clusters['ks']}); add it to the list."
        )
    dc = config["deepcluster"]
    try:
        check_epochs(dc["features_epoch"], dc["epochs"])
    except InputError as error:
        raise InputError(f"config: {error}") from None
    if (
        not config.get("cities")
        and not config["demo"]["enabled"]
        and not config["inputs"]["imagery"]
    ):
        raise InputError(
            "config: `inputs.imagery` is empty and the demo city is disabled; list your GeoTIFFs "
            "(paths or globs) under `inputs.imagery`, or set `demo.enabled: true`."
        )
