"""Build a backbone and load the user's local weights file into it: no pickle runs, no network.

``load_backbone(arch, path)`` builds the architecture with random weights (timm's
``create_model(pretrained=False, num_classes=0)`` or torchvision's ``get_model(weights=None)``,
neither of which downloads anything), reads the file (``torch.load(weights_only=True)``,
which refuses any pickled object other than tensors and plain containers, or safetensors),
takes the state dict out of its checkpoint wrappers, applies timm's own checkpoint filter
for the architecture (it converts e.g. the official DINOv2 and DINOv3 layouts) and loads
it. A file that does not fit raises one ``InputError`` naming the file, the architecture
and the first keys that do not fit.

Names with a hub prefix (``hf-hub:``, ``local-dir:``) are refused: timm would fetch their
configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import logging
import pickle
import re
import sys
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from satcluster.errors import InputError
from satcluster.pretrained.backbones import (
    BACKBONES,
    NOT_STATED,
    POOLS,
    RGB,
    Backbone,
)

__all__ = ["load_backbone", "read_checkpoint", "unwrap_state_dict"]

log = logging.getLogger(__name__)

# Checkpoint dicts hold the model under one of these keys: Lightning, timm and MoCo save
# 'state_dict'; DeiT/MAE 'model'; DINO/DINOv2 training checkpoints 'teacher' (the weights
# their evaluation uses); some DDP savers 'module'.
CONTAINER_KEYS = ("state_dict", "model", "teacher", "module")
# Key prefixes added by wrappers: DDP/DataParallel 'module.', torch.compile '_orig_mod.',
# Lightning modules 'model.', DINO's multi-crop wrapper and Satlas 'backbone.', MoCo's query
# encoder 'encoder_q.'. A prefix is stripped only when the model itself has no key with it;
# keys without it (MoCo's key encoder and queue, DINO heads, Satlas' FPN) are dropped.
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.", "backbone.", "encoder_q.")
# timm modules whose models take a pooling choice (token/avg) and an image size
TIMM_TOKEN_MODELS = {
    # fc_norm=False keeps the final norm before pooling, as DINO-style checkpoints hold it
    "timm.models.vision_transformer": {"fc_norm": False},
    "timm.models.eva": {"use_fc_norm": False},
}
SHOWN_KEYS = 5
HUB_PREFIXES = ("hf-hub:", "hf_hub:", "local-dir:", "http:", "https:")


def load_backbone(
    arch: str,
    weights_path: str | Path,
    *,
    strict: bool = True,
    pool: str | None = None,
    input_size: int | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> tuple[nn.Module, Backbone]:
    """The backbone ``arch`` with the weights of the local file ``weights_path``, and its config.

    ``arch`` is a registry name (backbones.py), ``timm:<model>`` (or a bare timm name) or
    ``torchvision:<model>``. The model comes back in eval mode without gradients; its
    forward maps a normalised ``B x 3 x S x S`` batch to ``B x D`` pooled features. A
    classifier head in the file is ignored. ``strict=False`` loads a file with missing or
    extra keys (logged); a key with another shape always raises. ``pool``, ``input_size``,
    ``mean`` and ``std`` override the registry's values.
    """
    entry, library, name = _resolve(arch)
    path = Path(weights_path)
    if not path.is_file():
        raise InputError(f"weights file not found: {path}. Give the path of the {arch} weights.")
    if input_size is not None and input_size < 1:
        raise InputError(f"input size {input_size} for {arch}: give a side in pixels (e.g. 224).")
    if pool is not None and pool not in POOLS:
        raise InputError(f"pool {pool!r} for {arch}: choose one of {', '.join(POOLS)}.")
    pool = pool or (entry.pool if entry else None)
    if library == "timm":
        model, derived, heads, filter_fn = _build_timm(name, pool, input_size)
    else:
        model, derived, heads, filter_fn = _build_torchvision(name, pool)
    config = (entry or derived).with_overrides(
        pool=derived.pool, dim=derived.dim, input_size=input_size, mean=mean, std=std
    )
    if config.mean is None or config.std is None:
        raise InputError(
            f"backbone {arch}: its source states no normalisation for 8-bit RGB tiles; give "
            "mean and std (three numbers each, for pixel values scaled to 0-1)."
        )
    if len(config.mean) != 3 or len(config.std) != 3 or min(config.std) <= 0:
        raise InputError(
            f"backbone {arch}: mean {config.mean} and std {config.std} need three numbers each "
            "(one per band, std above 0)."
        )
    state = unwrap_state_dict(read_checkpoint(path), model.state_dict().keys(), path)
    state = _apply_filter(filter_fn, state, model, path, arch)
    state = _drop_heads(state, heads, model.state_dict().keys())
    _check_fit(state, model, path, arch, strict)
    model.load_state_dict(state, strict=False)
    model.eval().requires_grad_(False)
    return model, config


def _resolve(arch: str) -> tuple[Backbone | None, str, str]:
    """(registry entry or None, 'timm' or 'torchvision', model name) for ``arch``."""
    entry = BACKBONES.get(arch)
    spec = entry.arch if entry else arch
    library, sep, name = spec.partition(":")
    if not sep:
        library, name = "timm", spec
    if library not in ("timm", "torchvision") or not name or name.startswith(HUB_PREFIXES):
        raise InputError(
            f"architecture {arch!r}: give a registry name ({', '.join(sorted(BACKBONES))}), "
            "timm:<model> or torchvision:<model> (no hub names: the weights are a local file)."
        )
    return entry, library, name


def _build_timm(
    name: str, pool: str | None, input_size: int | None
) -> tuple[nn.Module, Backbone, tuple[str, ...], Callable | None]:
    """A timm model without classifier, its derived config, head names and checkpoint filter."""
    import timm
    from timm.models import is_model, model_entrypoint

    if not is_model(name):
        raise InputError(
            f"unknown timm model {name!r}; give a registry name ({', '.join(sorted(BACKBONES))}) "
            "or a timm model name (timm.list_models())."
        )
    module = model_entrypoint(name).__module__
    kwargs: dict = {"pretrained": False, "num_classes": 0}
    if module in TIMM_TOKEN_MODELS:
        if pool is not None:
            kwargs.update(global_pool=pool, **TIMM_TOKEN_MODELS[module])
        if input_size is not None:
            kwargs["img_size"] = input_size
    elif pool not in (None, "avg"):
        raise InputError(f"timm:{name} is a convnet: its features are averaged; use pool avg.")
    try:
        model = timm.create_model(name, **kwargs)
    except (TypeError, ValueError, AssertionError) as err:  # e.g. an input size the net refuses
        raise InputError(f"cannot build timm:{name} with {kwargs}: {err}") from None
    cfg = model.pretrained_cfg
    pooled = getattr(model, "global_pool", "avg")
    derived = Backbone(
        name=f"timm:{name}",
        arch=f"timm:{name}",
        source=f"{NOT_STATED} (normalisation and size: timm's pretrained_cfg of {name})",
        licence=cfg.get("license") or NOT_STATED,
        bands=RGB,
        input_size=cfg["input_size"][-1] if "input_size" in cfg else None,
        mean=_triple(cfg.get("mean")),
        std=_triple(cfg.get("std")),
        pool=pooled if pooled in POOLS else "avg",
        dim=model.num_features,
    )
    classifier = cfg.get("classifier") or ()
    heads = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    # timm keeps no registry of filters: each model module passes its own checkpoint_filter_fn
    # to build_model_with_cfg(pretrained_filter_fn=...), so it is found in the entrypoint's module
    filter_fn = getattr(sys.modules[module], "checkpoint_filter_fn", None)
    return model, derived, heads, filter_fn


def _build_torchvision(
    name: str, pool: str | None
) -> tuple[nn.Module, Backbone, tuple[str, ...], None]:
    """A torchvision classification model with its classifier replaced by global pooling."""
    import torchvision

    if name not in torchvision.models.list_models(module=torchvision.models):
        raise InputError(f"unknown torchvision classification model {name!r}.")
    if pool not in (None, "avg"):
        raise InputError(f"torchvision:{name}: its features are averaged; use pool avg.")
    model = torchvision.models.get_model(name, weights=None)
    heads, dim = _torchvision_trunk(model, name)
    size, mean, std = _torchvision_preset(name)
    derived = Backbone(
        name=f"torchvision:{name}",
        arch=f"torchvision:{name}",
        source=f"{NOT_STATED} (normalisation and size: torchvision's default weights of {name})",
        licence=NOT_STATED,
        bands=RGB,
        input_size=size,
        mean=mean,
        std=std,
        pool="avg",
        dim=dim,
    )
    return model, derived, heads, None


def _torchvision_trunk(model: nn.Module, name: str) -> tuple[tuple[str, ...], int]:
    """Replace the classifier by identity (pooling kept); (head names, feature length)."""
    import torchvision.models as tvm

    if isinstance(model, tvm.ResNet):
        dim = model.fc.in_features
        model.fc = nn.Identity()
        return ("fc",), dim
    if isinstance(model, tvm.VGG):
        # VGG's classifier flattens a 7 x 7 map into fc layers: a global average of the last
        # conv block gives the 512 features instead (the usual frozen-feature choice)
        dim = [m for m in model.features if isinstance(m, nn.Conv2d)][-1].out_channels
        model.avgpool = nn.AdaptiveAvgPool2d(1)
        model.classifier = nn.Identity()
        return ("classifier",), dim
    if isinstance(model, tvm.SwinTransformer):
        dim = model.head.in_features
        model.head = nn.Identity()
        return ("head",), dim
    raise InputError(
        f"torchvision:{name} is not supported for features; use a resnet*, resnext*, "
        "wide_resnet*, vgg* or swin* model, or a timm model."
    )


def _torchvision_preset(name: str) -> tuple[int | None, tuple | None, tuple | None]:
    """(crop size, mean, std) of torchvision's default weights of ``name``; None if unknown."""
    import torchvision

    try:
        preset = torchvision.models.get_model_weights(name).DEFAULT.transforms()
        return int(preset.crop_size[0]), _triple(preset.mean), _triple(preset.std)
    except (AttributeError, ValueError, IndexError, TypeError):
        return None, None, None


def _triple(values: Iterable[float] | None) -> tuple[float, float, float] | None:
    """Three floats, or None (timm/torchvision give lists or tuples, sometimes one value)."""
    if values is None:
        return None
    values = tuple(float(v) for v in values)
    return values if len(values) == 3 else None  # type: ignore[return-value]


# --- reading the file ----------------------------------------------------------------------------
def read_checkpoint(path: str | Path) -> object:
    """The object saved in ``path``, read without executing any pickled code.

    .safetensors through safetensors; anything else through ``torch.load(weights_only=True)``
    (tensors, numbers, strings and containers only; ``argparse.Namespace`` allowed as timm's
    loader does, for the ``args`` of training checkpoints). Zip-format files are memory-mapped,
    so that what the model does not use (a MoCo key encoder, optimizer state) is never read.
    InputError if unreadable.
    """
    path = Path(path)
    if path.name.endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as err:  # safetensors raises its own error types for broken files
            raise InputError(
                f"{path} is not a readable safetensors file ({err}); check the download."
            ) from None
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            mmap = zipfile.is_zipfile(path)  # torch's mmap needs the zip format (torch >= 1.6)
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        # torch's weights-only unpickler raises this both for a refused global and for a
        # file that is no pickle at all; only the first names a global
        refused = re.findall(r"Unsupported global: GLOBAL (\S+)", str(err))
        if refused:
            raise InputError(
                f"{path} holds Python objects other than tensors ({_unsafe_globals(path, refused)}"
                "); it was not loaded, since unpickling them could run code. Where you trust the "
                "file, save its state dict alone (torch.save(model.state_dict(), ...) or "
                "safetensors) and give that."
            ) from None
        reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(err))
        raise InputError(
            f"{path} is not a readable PyTorch checkpoint ({reason[1] if reason else err}); "
            "give a .pth/.pt/.pth.tar/.ckpt file saved with torch.save, or a .safetensors file."
        ) from None
    except Exception as err:  # not a checkpoint: zip/pickle/EOF errors vary by torch version
        raise InputError(
            f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}: {err}); give a "
            ".pth/.pt/.pth.tar/.ckpt file saved with torch.save, or a .safetensors file."
        ) from None


def _unsafe_globals(path: Path, refused: list[str]) -> str:
    """The globals the pickle needs, read from its opcodes (never run); else the refused one."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy (non-zip) files cannot be scanned: name the one torch refused
        names = []
    names = names or refused
    return ", ".join(names[:SHOWN_KEYS]) + (", ..." if len(names) > SHOWN_KEYS else "")


def unwrap_state_dict(
    obj: object, model_keys: Iterable[str], path: Path
) -> dict[str, torch.Tensor]:
    """The model's state dict inside a checkpoint: containers opened, wrapper prefixes stripped."""
    state = _open_containers(obj, path)
    model_keys = list(model_keys)
    stripped = []
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if any(k.startswith(prefix) for k in model_keys):
                continue  # the model's own name, not a wrapper's
            if any(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
                stripped.append(prefix)
                changed = True
                break
    if stripped:
        log.info("%s: stripped key prefixes %s", path, " ".join(stripped))
    return state


def _open_containers(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """Descend through checkpoint dicts (state_dict, model, teacher, module) to the tensors."""
    for _ in range(len(CONTAINER_KEYS) + 1):
        if not isinstance(obj, dict) or not obj:
            break
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and torch.is_tensor(v)}
        if len(tensors) == len(obj):
            return tensors
        key = next((k for k in CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
        if key is None:
            if tensors:  # a state dict with a few extra entries
                return tensors
            break
        obj = obj[key]
    keys = list(obj)[:SHOWN_KEYS] if isinstance(obj, dict) else type(obj).__name__
    raise InputError(
        f"{path} holds no state dict (found {keys}); expected tensors by name, or a checkpoint "
        f"with one of {', '.join(CONTAINER_KEYS)}."
    )


# --- fitting the state dict to the model ---------------------------------------------------------
def _apply_filter(
    filter_fn: Callable | None, state: dict, model: nn.Module, path: Path, arch: str
) -> dict[str, torch.Tensor]:
    """timm's checkpoint filter of the architecture (its prints go to the debug log)."""
    if filter_fn is None:
        return state
    takes_model = len(inspect.signature(filter_fn).parameters) > 1
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            state = filter_fn(state, model) if takes_model else filter_fn(state)
    except (KeyError, RuntimeError, ValueError, IndexError) as err:
        raise InputError(
            f"{path} does not fit {arch}: timm's checkpoint filter failed ({type(err).__name__}: "
            f"{err}); check that the file holds {arch} weights."
        ) from None
    if printed.getvalue():
        log.debug("timm checkpoint filter: %s", printed.getvalue().strip())
    return state


def _drop_heads(
    state: dict[str, torch.Tensor], heads: tuple[str, ...], model_keys: Iterable[str]
) -> dict[str, torch.Tensor]:
    """Without classifier/projection-head keys (the model has none: features only)."""
    model_keys = set(model_keys)

    def is_head(key: str) -> bool:
        return key not in model_keys and any(key == h or key.startswith(h + ".") for h in heads)

    return {k: v for k, v in state.items() if not is_head(k)}


def _check_fit(
    state: dict[str, torch.Tensor], model: nn.Module, path: Path, arch: str, strict: bool
) -> None:
    """InputError naming the first keys that are missing, extra or of another shape."""
    expected = model.state_dict()
    # BatchNorm fills in a missing counter itself (files from torch < 0.4.1); it is unused in eval
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    reshaped = [
        f"{k} {tuple(state[k].shape)} in the file, {tuple(expected[k].shape)} in the model"
        for k in state
        if k in expected and state[k].shape != expected[k].shape
    ]
    loose = [
        _listed(missing, "missing key", "missing keys"),
        _listed(unexpected, "unexpected key", "unexpected keys"),
    ]
    loose = [p for p in loose if p]
    # suggest a lenient load only where most of the model would get its weights
    partial = not reshaped and len(missing) < len(expected) / 2
    if reshaped or (strict and loose):
        problems = [_listed(reshaped, "key of another shape", "keys of another shape"), *loose]
        raise InputError(
            f"{path} does not fit {arch}: {'; '.join(p for p in problems if p)}. Check that "
            f"{arch} is the architecture these weights were trained with (size, patch, "
            "registers), or convert the file to that model's state dict"
            + ("; strict: false loads the keys that match." if partial else ".")
        )
    if loose:
        log.warning("%s: loaded into %s without %s", path, arch, "; ".join(loose))


def _listed(keys: list[str], one: str, many: str) -> str:
    """'3 missing keys (a, b, c)': the count and the first few."""
    if not keys:
        return ""
    shown = ", ".join(keys[:SHOWN_KEYS]) + (", ..." if len(keys) > SHOWN_KEYS else "")
    return f"{len(keys)} {one if len(keys) == 1 else many} ({shown})"
