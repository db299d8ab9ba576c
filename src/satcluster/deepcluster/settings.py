"""DeepCluster settings: each one defined once, as a field of ``Settings``, and checked.

A field holds the default (the reference implementation's), and in its
metadata the help text, the command-line flags, the allowed values (``choices``
and a range: ``minimum``, ``maximum``, ``exclusive_minimum``,
``exclusive_maximum``) and two roles:

- ``signature``: a checkpoint written with another value is not resumed;
- ``workflow``: it is the config key ``deepcluster.<name>``, and, unless
  ``rerun`` is False, a param of the ``train_deepcluster`` rule: changing it
  retrains. ``rerun=False`` marks the keys that change how the job runs but not
  its result (``workers``, ``checkpoints``; ``compile``, whose kernels round
  differently on a GPU but compute the same training): the training script
  reads them from the config, so changing them never reruns training.
  A workflow setting also says what the config documents: its default there
  (``config_default``: the paper's, where it differs from the reference's), its
  meaning (``doc``), what a change reruns (``reruns``) and whether the config
  takes ``null`` (``config_null``).

The argparse options, ``settings_from_args``, the checkpoint signature and the
argv that the Snakemake script builds are all derived from these fields (see
options.py), and so are the ``deepcluster`` block of the config schema
(workflow/schemas/config.schema.yaml) and its table in config/README.md, which
``tools/settings_docs.py`` writes (``make settings-docs``). Options of a run
rather than of training (``--gpus``, ``--exp``...) are the fields of
``RunOptions``; config keys of a study rather than of one training run
(``seeds``) are the fields of ``StudyOptions``; both declared the same way.

The choices and ranges are checked once each, from the metadata: by
``check_values`` for the command line and the library, and by the generated
schema for the config (the cross-setting ``check_epochs`` by both).

This module imports neither torch nor Snakemake: the rule file imports it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from satcluster.deepcluster.tiles import open_tiles
from satcluster.errors import InputError

__all__ = [
    "ARCHS",
    "METHODS",
    "MIN_INPUT_SIZE",
    "RANGE_KEYWORDS",
    "SIGNATURE_KEYS",
    "RunOptions",
    "Settings",
    "StudyOptions",
    "check_epochs",
    "check_inputs",
    "check_settings",
    "check_values",
    "config_default",
    "setting",
]

ARCHS = ("vgg16", "alexnet", "small")
METHODS = ("Kmeans", "PIC")
MIN_INPUT_SIZE = {"vgg16": 32, "alexnet": 63, "small": 8}
# A range in the metadata: JSON-schema keyword (the schema takes it as it is) -> the
# argument of setting() that gives it, the test a value passes, what a value outside is told.
RANGE_KEYWORDS: dict[str, tuple[str, Callable[[Any, Any], bool], str]] = {
    "minimum": ("minimum", operator.ge, "must be at least {}"),
    "maximum": ("maximum", operator.le, "must be at most {}"),
    "exclusiveMinimum": ("exclusive_minimum", operator.gt, "must be greater than {}"),
    "exclusiveMaximum": ("exclusive_maximum", operator.lt, "must be less than {}"),
}


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
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    exclusive_maximum: float | None = None,
    config_default: Any = MISSING,
    doc: str | None = None,
    reruns: str | None = None,
    config_null: bool | None = None,
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
    minimum, maximum, exclusive_minimum, exclusive_maximum : the allowed range (None: open);
        ``check_values`` and the config schema check it (None passes).
    config_default : the config's default (the paper's), when it is not ``default``.
    doc : the config key's meaning (config/README.md and the schema); default ``help``.
    reruns : what a change reruns, for config/README.md; default "training and after"
        (``rerun``) or "nothing".
    config_null : whether the config takes null; default whether the type allows None.
    """
    bounds = dict(
        minimum=minimum,
        maximum=maximum,
        exclusive_minimum=exclusive_minimum,
        exclusive_maximum=exclusive_maximum,
    )
    metadata = {"help": help, "flags": flags, "signature": signature, "workflow": workflow}
    metadata.update(rerun=rerun)
    metadata.update(choices=choices, action=action, metavar=metavar)
    metadata.update(positional=positional, added=added)
    metadata.update(
        range={
            keyword: bounds[argument]
            for keyword, (argument, _, _) in RANGE_KEYWORDS.items()
            if bounds[argument] is not None
        }
    )
    if config_default is not MISSING:
        metadata.update(config_default=config_default)
    if reruns is None:
        reruns = "training and after" if rerun else "nothing"
    metadata.update(doc=doc or help, reruns=reruns, config_null=config_null)
    return field(default=default, metadata=metadata)


def config_default(f: Field) -> Any:
    """The default of the config key of field ``f`` (the paper's setting where it differs)."""
    return f.metadata.get("config_default", f.default)


@dataclass
class Settings:
    """DeepCluster hyper-parameters; defaults are the reference implementation's."""

    arch: str = setting(
        "alexnet",
        "CNN architecture (default: %(default)s)",
        flags=("--arch", "-a"),
        choices=ARCHS,
        signature=True,
        config_default="vgg16",
        doc="`vgg16` (VGG16-BN), `alexnet`, or `small` (a small convnet for CPU runs)",
    )
    sobel: bool = setting(
        False,
        "Sobel filtering",
        signature=True,
        config_default=True,
        doc="Sobel front end (grey + Sobel x/y instead of RGB)",
    )
    clustering: str = setting(
        "Kmeans",
        "pseudo-labels by (default: %(default)s)",
        choices=METHODS,
        signature=True,
        doc="`Kmeans` or `PIC` for the pseudo-labels",
    )
    k: int = setting(
        10000,
        "number of clusters for k-means (default: %(default)s)",
        flags=("--nmb_cluster", "--k"),
        signature=True,
        minimum=2,
        config_default=16,
        doc="number of pseudo-label clusters while training",
    )
    lr: float = setting(
        0.05,
        "learning rate (default: %(default)s)",
        signature=True,
        exclusive_minimum=0,
        config_default=0.0001,
        doc="learning rate",
    )
    wd: float = setting(
        -5.0,
        "weight decay power of ten (default: %(default)s)",
        signature=True,
        # an int, as the config always had it: -5.0 would change the rule's param (and retrain)
        config_default=-5,
        doc="weight decay as a power of ten",
    )
    momentum: float = setting(
        0.9,
        "momentum (default: %(default)s)",
        signature=True,
        minimum=0,
        doc="SGD momentum of the backbone",
    )
    batch: int = setting(
        256,
        "mini-batch size over all processes (default: %(default)s)",
        signature=True,
        minimum=1,
        config_default=128,
        doc="batch size over all GPUs (split between processes)",
    )
    epochs: int = setting(
        200,
        "number of total epochs to run (default: %(default)s)",
        minimum=1,
        config_default=20,
        doc="training epochs",
    )
    start_epoch: int = setting(0, "manual epoch number (useful on restarts)", workflow=False)
    reassign: float = setting(
        1.0,
        "epochs of training between two reassignments of clusters (default: %(default)s)",
        signature=True,
        exclusive_minimum=0,
        config_default=1,  # an int, as the config always had it (see wd)
        doc="re-cluster every this many epochs",
    )
    workers: int = setting(
        4,
        "background threads reading batches (default: %(default)s)",
        rerun=False,
        minimum=0,
        doc="background threads that read and prefetch batches (threads, not DataLoader processes)",
        reruns="nothing (how the job runs, not what it writes; applies to the next training run)",
    )
    seed: int = setting(31, "random seed (default: %(default)s)", signature=True, doc="random seed")
    pca_dim: int = setting(
        256,
        "PCA dimensions before clustering (default: %(default)s)",
        signature=True,
        added=True,
        minimum=2,
        doc="PCA dimensions before the per-epoch k-means",
    )
    input_size: int | None = setting(
        224,
        "model input side in px, 'none' for the tile size (default: %(default)s)",
        signature=True,
        added=True,
        minimum=16,
        doc="model input side in px; `null` uses the tile size",
    )
    amp: bool = setting(
        True,
        "bf16 autocast on GPU (default: on)",
        added=True,
        doc="bf16 autocast on GPU (channels_last is always on); no effect on the CPU",
        reruns="training and after (bf16 rounding changes the features on a GPU)",
    )
    compile: bool = setting(
        False,
        "on a GPU, torch.compile the model and fuse the SGD steps: the same training, "
        "faster kernels (default: off; ignored on the CPU)",
        added=True,
        rerun=False,  # other kernels, same computation: not worth retraining a day for
        doc="on a GPU, `torch.compile` the model (inductor: fused BatchNorm, ReLU, pooling and "
        "Sobel kernels around cuDNN's convolutions; each batch size compiled once, a minute or "
        "two at the start) and fuse the SGD steps; the algorithm and its hyper-parameters are "
        "unchanged. Ignored on the CPU. Measure it on your GPU with `benchmarks/gpu/gpu.sh`",
        reruns="nothing (how the job runs; applies to the next training run, whose features "
        "then differ from an eager run's by floating-point rounding on a GPU)",
    )
    checkpoints: int = setting(
        25000,
        "iterations between two checkpoints (default: %(default)s)",
        rerun=False,
        minimum=1,
        doc="also checkpoint every this many iterations",
        reruns="nothing (a resumed run gives the same result; applies to the next training run)",
    )
    features_epoch: int | None = setting(
        None,
        "save the features of the model after this many epochs (default: the last)",
        minimum=1,
        config_default=20,
        config_null=False,
        doc="features (and `model.pt`) of the model after this many epochs are saved for the "
        "clusters stage",
    )
    resume: str | None = setting(
        None,
        "a checkpoint of this workflow (checkpoints/last.pt) continues its training (weights, "
        "optimiser, epoch); a DeepCluster checkpoint (.pth.tar), a model.pt or a state dict "
        "only initialises the weights. This run's own resumable --exp/checkpoints/last.pt "
        "takes precedence",
        metavar="PATH",
        signature=True,
        doc="a training checkpoint of this workflow (`checkpoints/last.pt` of another run) "
        "continues its training (weights, optimiser, epoch); any other file (the original "
        "DeepCluster `.pth.tar`, e.g. the ImageNet VGG16, a `model.pt`, a state dict) only "
        "initialises the weights; the log says which",
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
        None,
        "GPUs to use, one process each (default: all visible; 0: CPU)",
        added=True,
        minimum=0,
        config_default=3,
        config_null=False,
        doc="GPUs requested from SLURM for the training job (one node; one process per GPU). On "
        "a machine without a visible GPU training runs as one CPU process whatever the value; "
        "`0` forces the CPU",
        reruns="training and after (each process normalises its own share of a batch and draws "
        "its own augmentations, so the result depends on the number of processes)",
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


@dataclass
class StudyOptions:
    """``deepcluster.*`` config keys of a study, not of one training run: no command-line
    options, and not passed to training (satcluster.study.config reads them)."""

    seeds: list[int] | None = setting(
        None,
        "several seeds, one model each (a study; replaces `seed`); maps and figures show their "
        "consensus (`clusters.consensus`), else the first, the reference seed (whose embedding "
        "the embedding figures always show)",
        reruns="a new seed: that seed's training and clusters, the consensus, GeoJSONs, figures "
        "and maps, the comparisons (without a consensus: only the comparisons)",
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
    check_values(s)
    if s.clustering == "Kmeans" and s.k > n:
        k_min = _field(Settings, "k").metadata["range"]["minimum"]
        raise InputError(
            f"--nmb_cluster/--k (deepcluster.k) = {s.k} must be in {k_min}..{n} (the number of "
            "tiles)."
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
    check_epochs(features_epoch, s.epochs, s.start_epoch)


def check_values(options: Any) -> None:
    """InputError naming the option unless every field of ``options`` has an allowed value.

    ``options`` : a ``Settings`` (or ``RunOptions``, ``StudyOptions``). Each value must be one
    of its field's ``choices`` and within its range (None passes): the checks that the
    generated config schema makes of the ``deepcluster`` block, for the command line.
    """
    for f in fields(options):
        value = getattr(options, f.name)
        if value is None:
            continue
        name = _option_name(f)
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise InputError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}.")
        for keyword, bound in (f.metadata.get("range") or {}).items():
            if not RANGE_KEYWORDS[keyword][1](value, bound):
                key = f" (deepcluster.{f.name})" if f.metadata.get("workflow", True) else ""
                raise InputError(f"{name}{key} {_range_text(keyword, bound)}.")


def check_epochs(features_epoch: int, epochs: int, start_epoch: int = 0) -> None:
    """InputError unless the features are saved after an epoch that training runs.

    Parameters
    ----------
    features_epoch : the epoch whose features are saved (``features_epoch or epochs``).
    epochs : the number of epochs.
    start_epoch : the epoch training starts after (``--start_epoch``; the config has none).
    """
    name = f"--features_epoch (deepcluster.features_epoch) = {features_epoch}"
    if features_epoch > epochs:
        raise InputError(
            f"{name} is after the last epoch (--epochs, deepcluster.epochs = {epochs}); lower it "
            "or train longer."
        )
    first = max(1, start_epoch)
    if features_epoch < first:
        raise InputError(f"{name} must be between {first} and --epochs = {epochs}.")


def _field(cls: type, name: str) -> Field:
    return next(f for f in fields(cls) if f.name == name)


def _option_name(f: Field) -> str:
    """How messages name an option: its long flags (``--nmb_cluster/--k``)."""
    flags = [flag for flag in f.metadata.get("flags") or () if flag.startswith("--")]
    return "/".join(flags) or f"--{f.name}"


def _range_text(keyword: str, bound: float) -> str:
    if keyword == "exclusiveMinimum" and bound == 0:
        return "must be positive"
    return RANGE_KEYWORDS[keyword][2].format(bound)
