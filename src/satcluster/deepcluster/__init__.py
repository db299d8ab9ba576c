"""DeepCluster (Caron et al. 2018) for satellite image tiles: faithful, resumable, multi-GPU.

settings.py (every setting, defined once, and its checks), options.py (the
command-line options and the rule's param derived from them), models.py
(VGG16-BN, AlexNet, small; Sobel front end), tiles.py (the tiles .npy, or a
folder of images), data.py (batches, augmentation on the device),
pseudolabels.py (PCA-whitening, k-means, PIC), sampler.py (uniform over
pseudo-labels), seeds.py, distributed.py (DDP helpers), train.py (the epoch
loop), resume.py (when and how to resume), checkpoint.py (the files),
training_log.py (epoch clock and log row), outputs.py (the published files),
cli.py (``python -m satcluster.deepcluster``).

The names below are imported on first use, so that the rule file can import
settings.py and options.py without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from satcluster.deepcluster.outputs import Outputs
    from satcluster.deepcluster.settings import Settings, check_inputs
    from satcluster.deepcluster.train import train_deepcluster

__all__ = ["Outputs", "Settings", "check_inputs", "train_deepcluster"]

_HOMES = {
    "Outputs": "outputs",
    "Settings": "settings",
    "check_inputs": "settings",
    "train_deepcluster": "train",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
