"""One colour per cluster id, shared by every figure and the web map."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.colors import ListedColormap, to_hex

from satcluster.errors import InputError

__all__ = ["MISSING_COLOR", "cluster_colors"]

# Colour of cells/points that belong to no cluster (missing labels, empty map background).
MISSING_COLOR = "#d9d9d9"


def _colormap(palette: str) -> mpl.colors.Colormap:
    try:
        return mpl.colormaps[palette]
    except KeyError:
        raise InputError(
            f"config: `figures.palette` is {palette!r}, which is not a Matplotlib colormap; "
            "use a name such as tab10, tab20, Set2 or viridis."
        ) from None


def cluster_colors(n_clusters: int, palette: str = "tab10") -> list[str]:
    """Hex colour of cluster ids 0..n_clusters-1: colour i always means cluster i.

    Qualitative palettes (tab10, Set2, ...) give their colours in order; when a
    palette has fewer colours than clusters, tab10 continues with its light
    twins from tab20 and other qualitative palettes repeat lightened. Continuous
    colormaps (viridis, ...) are sampled evenly.
    """
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be positive, got {n_clusters}")
    cmap = _colormap(palette)
    if not isinstance(cmap, ListedColormap) or cmap.N > 32:
        return [to_hex(c) for c in cmap(np.linspace(0, 1, n_clusters))]
    base = [to_hex(c) for c in cmap.colors]
    if n_clusters <= len(base):
        return base[:n_clusters]
    if palette == "tab10" and n_clusters <= 20:
        tab20 = [to_hex(c) for c in mpl.colormaps["tab20"].colors]
        return (tab20[0::2] + tab20[1::2])[:n_clusters]
    return [_lighten(base[i % len(base)], (i // len(base)) * 0.35) for i in range(n_clusters)]


def _lighten(color: str, amount: float) -> str:
    """Blend ``color`` towards white by ``amount`` (0 keeps it, 1 is white)."""
    rgb = np.array(mpl.colors.to_rgb(color))
    return to_hex(rgb + (1 - rgb) * min(amount, 0.9))
