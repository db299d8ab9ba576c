"""Checkpoints (ours and the reference DeepCluster's), the final model file, per-epoch labels.

Everything is saved as tensors and plain Python types and loaded with
``torch.load(weights_only=True)``: no pickled objects. Writes are atomic (a
temporary file renamed into place), so a killed job never leaves a truncated
checkpoint behind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from satcluster.errors import InputError
from satcluster.io import atomic_path

__all__ = [
    "FORMAT",
    "LAST",
    "checkpoint_dir",
    "clean_state_dict",
    "describe",
    "features_path",
    "is_training_checkpoint",
    "labels_path",
    "load",
    "load_labels",
    "load_optimizer",
    "load_pretrained",
    "load_weights",
    "remove_stale",
    "remove_temp_files",
    "save_checkpoint",
    "save_labels",
    "save_model",
]

log = logging.getLogger(__name__)

FORMAT = "satcluster.deepcluster/1"
LAST = "last.pt"


def checkpoint_dir(exp: str | Path) -> Path:
    return Path(exp) / "checkpoints"


def labels_path(ckpt_dir: Path, epoch: int) -> Path:
    """Pseudo-labels used to train epoch ``epoch`` (1-based)."""
    return ckpt_dir / f"labels_epoch{epoch:04d}.npy"


def features_path(ckpt_dir: Path, epoch: int) -> Path:
    """Features of the model after ``epoch`` epochs of training."""
    return ckpt_dir / f"features_epoch{epoch:04d}.npy"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a training checkpoint atomically (``state`` holds tensors and plain types only)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; InputError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path} (--resume / deepcluster.resume).")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a usable checkpoint"
        raise InputError(
            f"{path} cannot be loaded as a weights-only PyTorch checkpoint ({err}); "
            "give a DeepCluster checkpoint (.pth.tar), or a checkpoint or model.pt written "
            "by this workflow."
        ) from None
    if not isinstance(ckpt, dict):
        raise InputError(f"{path} holds a {type(ckpt).__name__}, not a checkpoint dictionary.")
    return ckpt


def clean_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop (Distributed)DataParallel ``module`` name parts and the ``top_layer`` head."""
    cleaned = {}
    for key, value in state_dict.items():
        name = ".".join(part for part in key.split(".") if part != "module")
        if not name.startswith("top_layer."):
            cleaned[name] = value
    return cleaned


def is_training_checkpoint(state: dict[str, Any]) -> bool:
    """Whether ``state`` is a training checkpoint of this workflow (resume.py writes them)."""
    return state.get("format") == FORMAT and "optimizer" in state and "iteration" in state


def describe(state: dict[str, Any]) -> str:
    """What kind of checkpoint ``state`` is, in a few words for the log."""
    epoch = int(state.get("epoch", 0))
    if is_training_checkpoint(state):
        return f"training checkpoint of this workflow, {epoch} epochs done"
    if state.get("format") == FORMAT:
        return f"model.pt of this workflow, its epoch {epoch}, head dropped"
    if "state_dict" in state:
        return f"DeepCluster checkpoint, its epoch {epoch}, head dropped"
    return "state dict, head dropped"


def load_pretrained(model: nn.Module, path: str | Path, arch: str, sobel: bool) -> int:
    """Initialise ``model`` (head excluded) from the checkpoint at ``path`` (see ``load_weights``).

    Returns the checkpoint's epoch (0 if it has none).
    """
    state = load(path)
    load_weights(model, state, path, arch, sobel)
    return int(state.get("epoch", 0))


def load_weights(
    model: nn.Module, ckpt: dict[str, Any], path: str | Path, arch: str, sobel: bool
) -> None:
    """Load the weights (head excluded) of checkpoint ``ckpt``, read from ``path``, into ``model``.

    Accepts the reference format (keys ``state_dict``, ``epoch``, ``arch``,
    ``optimizer``; DataParallel ``module.`` names; ``top_layer`` dropped),
    this workflow's model.pt and checkpoints, or a bare state dict. Only the
    weights are used; InputError naming ``path`` when they do not fit.
    """
    state = ckpt.get("state_dict", ckpt)
    if ckpt.get("arch", arch) != arch:
        raise InputError(
            f"{path} is a {ckpt['arch']!r} checkpoint but the architecture is {arch!r}; "
            f"set --arch {ckpt['arch']} (deepcluster.arch)."
        )
    state = clean_state_dict(state)
    has_sobel = any(key.startswith("sobel.") for key in state)
    if has_sobel != sobel:
        setting = "needs --sobel (deepcluster.sobel: true)" if has_sobel else "was trained without"
        raise InputError(f"{path}: the checkpoint {setting} the Sobel front end; match it.")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise InputError(f"{path} does not fit the {arch} model: {err}") from None
    missing = [key for key in missing if not key.startswith("top_layer.")]
    if missing or unexpected:
        raise InputError(
            f"{path} does not fit the {arch} model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}."
        )


def load_optimizer(
    optimizer: torch.optim.Optimizer, state: dict[str, Any], path: str | Path
) -> None:
    """Restore the optimiser state of a checkpoint (momentum buffers), keeping this run's settings.

    ``load_state_dict`` also replaces lr, momentum and weight decay by the
    checkpoint's; this run's options (--lr, --momentum, --wd) are put back.
    """
    settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError) as err:
        raise InputError(
            f"{path}: its optimiser state does not fit this model ({err}); "
            "give a checkpoint of the same --arch and --sobel."
        ) from None
    for group, own in zip(optimizer.param_groups, settings, strict=True):
        group.update(own)


def save_model(path: str | Path, model: nn.Module, info: dict[str, Any]) -> None:
    """Final model: state dict (with the last head) plus plain-typed architecture info."""
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **info, "state_dict": state}, tmp)


def save_labels(path: Path, labels: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.save(tmp, labels.astype(np.int32))


def load_labels(path: Path) -> np.ndarray:
    return np.load(path).astype(np.int64)


def remove_stale(ckpt_dir: Path) -> None:
    """Delete our checkpoint files (a fresh start) and temp files left by a killed writer."""
    if not ckpt_dir.is_dir():
        return
    for pattern in (LAST, "labels_epoch*.npy", "features_epoch*.npy", "features_scratch.npy"):
        for path in ckpt_dir.glob(pattern):
            path.unlink()
    remove_temp_files(ckpt_dir)


def remove_temp_files(ckpt_dir: Path) -> None:
    for path in ckpt_dir.glob(".*.tmp*"):
        path.unlink(missing_ok=True)
