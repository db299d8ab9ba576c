"""DeepCluster settings: each one defined once, as a field of ``Settings``, and checked.

A field holds the default (the reference implementation's), and in its
metadata the help text, the command-line flags, and two roles:

- ``signature``: a checkpoint written with another value is not resumed;
- ``workflow``: it is the config key ``deepcluster.<name>`` (the schema gives
  the paper's defaults), and, unless ``rerun`` is False, a param of the
  ``train_deepcluster`` rule: changing it retrains. ``rerun=False`` marks the
  keys that change how the job runs but not its result (``workers``,
  ``checkpoints``; ``compile``, whose kernels round differently on a GPU but compute
  the same training): the training script reads them from the config, so changing
  them never reruns training.

The argparse options, ``settings_from_args``, the checkpoint signature and the
argv that the Snakemake script builds are all derived from these fields (see
options.py). Options of a run rather than of training (``--gpus``, ``--exp``...)
are the fields of ``RunOptions``, declared the same way.

This module imports neither torch nor Snakemake: the rule file imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from satcluster.deepcluster.tiles import open_tiles
from satcluster.errors import InputError

__all__ = [
    "ARCHS",
    "METHODS",
    "MIN_INPUT_SIZE",
    "SIGNATURE_KEYS",
    "RunOptions",
    "Settings",
    "check_inputs",
    "check_settings",
    "setting",
]

ARCHS = ("vgg16", "alexnet", "small")
METHODS = ("Kmeans", "PIC")
MIN_INPUT_SIZE = {"vgg16": 32, "alexnet": 63, "small": 8}


def setting(
    default: Any,
    help: str,
    *,
    flags: tuple[str, ...] = (),
    signature: bool = False,
    workflow: bool = True,
    rerun: bool = True,
    choices: tuple[str, ...] | None = None,
    action: str | None = None,
    metavar: str | None = None,
    positional: bool = False,
    added: bool = False,
) -> Any:
    """A settings field: its default plus what the CLI, checkpoints and workflow need.

    Parameters
    ----------
    default : the value when neither the command line nor the config sets it.
    help : argparse help text (``%(default)s`` is filled in).
    flags : option strings; default ``--<name>``.
    signature : a checkpoint written with another value is not resumed.
    workflow : a ``deepcluster.<name>`` config key and rule param (False: CLI only).
    rerun : changing it can change the result, so it reruns training (False: it cannot).
    choices : the allowed values.
    action : an argparse action instead of the default one (e.g. ``store_true``).
    metavar : argparse metavar.
    positional : a positional argument, not an option.
    added : not an option of the reference main.py (listed apart in ``--help``).
    """
    metadata = {"help": help, "flags": flags, "signature": signature, "workflow": workflow}
    metadata.update(rerun=rerun)
    metadata.update(choices=choices, action=action, metavar=metavar)
    metadata.update(positional=positional, added=added)
    return field(default=default, metadata=metadata)


@dataclass
class Settings:
    """DeepCluster hyper-parameters; defaults are the reference implementation's."""

    arch: str = setting(
        "alexnet",
        "CNN architecture (default: %(default)s)",
        flags=("--arch", "-a"),
        choices=ARCHS,
        signature=True,
    )
    sobel: bool = setting(False, "Sobel filtering", signature=True)
    clustering: str = setting(
        "Kmeans", "pseudo-labels by (default: %(default)s)", choices=METHODS, signature=True
    )
    k: int = setting(
        10000,
        "number of clusters for k-means (default: %(default)s)",
        flags=("--nmb_cluster", "--k"),
        signature=True,
    )
    lr: float = setting(0.05, "learning rate (default: %(default)s)", signature=True)
    wd: float = setting(-5.0, "weight decay power of ten (default: %(default)s)", signature=True)
    momentum: float = setting(0.9, "momentum (default: %(default)s)", signature=True)
    batch: int = setting(
        256, "mini-batch size over all processes (default: %(default)s)", signature=True
    )
    epochs: int = setting(200, "number of total epochs to run (default: %(default)s)")
    start_epoch: int = setting(0, "manual epoch number (useful on restarts)", workflow=False)
    reassign: float = setting(
        1.0,
        "epochs of training between two reassignments of clusters (default: %(default)s)",
        signature=True,
    )
    workers: int = setting(
        4, "background threads reading batches (default: %(default)s)", rerun=False
    )
    seed: int = setting(31, "random seed (default: %(default)s)", signature=True)
    pca_dim: int = setting(
        256, "PCA dimensions before clustering (default: %(default)s)", signature=True, added=True
    )
    input_size: int | None = setting(
        224,
        "model input side in px, 'none' for the tile size (default: %(default)s)",
        signature=True,
        added=True,
    )
    amp: bool = setting(True, "bf16 autocast on GPU (default: on)", added=True)
    compile: bool = setting(
        False,
        "on a GPU, torch.compile the model and fuse the SGD steps: the same training, "
        "faster kernels (default: off; ignored on the CPU)",
        added=True,
        rerun=False,  # other kernels, same computation: not worth retraining a day for
    )
    checkpoints: int = setting(
        25000, "iterations between two checkpoints (default: %(default)s)", rerun=False
    )
    features_epoch: int | None = setting(
        None, "save the features of the model after this many epochs (default: the last)"
    )
    resume: str | None = setting(
        None,
        "a checkpoint of this workflow (checkpoints/last.pt) continues its training (weights, "
        "optimiser, epoch); a DeepCluster checkpoint (.pth.tar), a model.pt or a state dict "
        "only initialises the weights. This run's own resumable --exp/checkpoints/last.pt "
        "takes precedence",
        metavar="PATH",
        signature=True,
    )
    verbose: bool = setting(
        False,
        "chatty: progress bars, checkpoint messages",
        action="store_true",
        workflow=False,
    )


@dataclass
class RunOptions:
    """Where to read and write and what to run on: options of one run, not of training."""

    data: str | None = setting(
        None,
        "folder of image tiles (.tif/.png/.jpg) or a tiles .npy",
        metavar="DIR",
        positional=True,
        workflow=False,
    )
    exp: str = setting(
        "", "experiment folder: checkpoints/ (and outputs unless --out)", workflow=False
    )
    features_name: str = setting(
        "features.npy", "file name of the saved features (default: %(default)s)", workflow=False
    )
    gpus: int | None = setting(
        None, "GPUs to use, one process each (default: all visible; 0: CPU)", added=True
    )
    nproc: int = setting(
        1, "processes when training on CPU (gloo); default %(default)s", workflow=False, added=True
    )
    out: str | None = setting(
        None,
        "folder for model.pt, training_log.csv, assignments.parquet and the features "
        "(default: --exp)",
        workflow=False,
        added=True,
    )
    threads: int | None = setting(
        None, "CPU threads in all (default: all available)", workflow=False, added=True
    )
    log: str | None = setting(
        None, "append all messages (also the workers') to this file", workflow=False, added=True
    )


# Settings that define a training run: a checkpoint written with other values is not resumed.
SIGNATURE_KEYS = [f.name for f in fields(Settings) if f.metadata.get("signature", False)]


def check_inputs(tiles_path: str | Path, s: Settings) -> None:
    """Fail early, with one clear message, on settings that cannot work with these tiles.

    Parameters
    ----------
    tiles_path : the tiles .npy (uint8, N x H x W x 3).
    s : the training settings.

    Raises InputError naming the option (and config key) to change.
    """
    tiles = open_tiles(tiles_path)
    tile_shape = (int(tiles.shape[1]), int(tiles.shape[2]))
    input_size = s.input_size or tile_shape[0]
    check_settings(s, len(tiles), tile_shape, input_size, s.features_epoch or s.epochs)
    if s.resume and not Path(s.resume).is_file():
        raise InputError(f"--resume (deepcluster.resume): checkpoint not found: {s.resume}.")


def check_settings(
    s: Settings, n: int, tile_shape: tuple[int, int], input_size: int, features_epoch: int
) -> None:
    """InputError unless ``s`` can train on ``n`` tiles of ``tile_shape`` (px)."""
    if s.arch not in ARCHS:
        raise InputError(f"unknown --arch {s.arch!r}; choose one of {', '.join(ARCHS)}.")
    if s.clustering not in METHODS:
        raise InputError(
            f"unknown --clustering {s.clustering!r}; choose one of {', '.join(METHODS)}."
        )
    if s.clustering == "Kmeans" and not 2 <= s.k <= n:
        raise InputError(
            f"--nmb_cluster/--k (deepcluster.k) = {s.k} must be in 2..{n} (the number of tiles)."
        )
    if s.input_size is None and tile_shape[0] != tile_shape[1]:
        raise InputError(
            f"tiles are {tile_shape[0]} x {tile_shape[1]} px; set --input_size (deepcluster.input_size)."
        )
    if input_size < MIN_INPUT_SIZE[s.arch]:
        raise InputError(
            f"input size {input_size} px is too small for {s.arch} (at least "
            f"{MIN_INPUT_SIZE[s.arch]}); set --input_size (deepcluster.input_size)."
        )
    if not max(1, s.start_epoch) <= features_epoch <= s.epochs:
        raise InputError(
            f"--features_epoch (deepcluster.features_epoch) = {features_epoch} must be between "
            f"{max(1, s.start_epoch)} and --epochs = {s.epochs}."
        )
    for name in ("batch", "checkpoints", "pca_dim"):
        if getattr(s, name) < 1:
            raise InputError(f"--{name} (deepcluster.{name}) must be at least 1.")
    if s.reassign <= 0:
        raise InputError("--reassign (deepcluster.reassign) must be positive.")
