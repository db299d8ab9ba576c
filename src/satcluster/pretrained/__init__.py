"""Frozen features from a pretrained backbone whose weights the user has as a local file.

backbones.py (the registry: source, licence, bands, input size, normalisation, pooling;
no torch), weights.py (``load_backbone``: build the architecture, read the file without
running pickled code and without network, fit its keys), extract.py (``extract_features``
for a chunk of tiles), gather.py (``gather_features`` joins the chunk files; no torch).

The names below are imported on first use, so that the config checks can import the
registry without loading torch or timm.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from satcluster.pretrained.backbones import BACKBONES, Backbone, get_backbone
    from satcluster.pretrained.extract import extract_features
    from satcluster.pretrained.gather import gather_features
    from satcluster.pretrained.weights import load_backbone

__all__ = [
    "BACKBONES",
    "Backbone",
    "extract_features",
    "gather_features",
    "get_backbone",
    "load_backbone",
]

_HOMES = {
    "BACKBONES": "backbones",
    "Backbone": "backbones",
    "get_backbone": "backbones",
    "extract_features": "extract",
    "gather_features": "gather",
    "load_backbone": "weights",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
