"""Several files per vector source: expanding paths and globs, telling repeated features apart,
and writing bounds into messages.

A covariate source (``inputs.buildings``, ``inputs.roads``) is one path, one glob or a list of
them: Google Open Buildings ships one CSV per S2 cell, OpenStreetMap extracts come per region,
and neighbouring files share the features along their common edge. The loaders read every
file and count such a feature once; this module holds what they share.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import shapely

from satcluster.errors import InputError

__all__ = [
    "DUPLICATE_TOLERANCE_M",
    "PathOrPaths",
    "as_paths",
    "describe_paths",
    "expand_sources",
    "format_bounds",
    "repeated_geometries",
]

PathOrPaths = str | os.PathLike | Sequence[str | os.PathLike]

# Two footprints are one when every vertex of each lies within this of the other (metres of
# the working CRS): far below a building's size, far above the centimetre that a reprojection
# round trip or 1e-7 degree coordinates (OSM PBF, WKT written with 7 decimals) move a vertex.
DUPLICATE_TOLERANCE_M = 0.1


def expand_sources(value: str | os.PathLike | Sequence[str | os.PathLike], key: str) -> list[str]:
    """The files of a source given as a path, a glob or a list of paths and globs.

    Globs (``*``, ``?``, ``[...]``; ``**`` crosses folders) expand to their files in sorted
    order; a file named twice (also through two globs) is kept once, where it first appears.
    Raises InputError naming the config ``key`` (e.g. ``inputs.buildings``) for an empty
    list, a glob that matches no file, a path that does not exist or an entry that is no path.
    """
    entries = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    if not entries:
        raise InputError(
            f"config: `{key}` is an empty list; give a path, a glob or a list of them "
            "(or null to leave the source out)."
        )
    paths: list[str] = []
    seen: set[Path] = set()
    for entry in entries:
        if not isinstance(entry, (str, os.PathLike)):
            raise InputError(
                f"config: `{key}` entry {entry!r} is not a path; give paths or globs as strings."
            )
        pattern = os.fspath(entry)
        if glob.has_magic(pattern):
            matches = sorted(m for m in glob.glob(pattern, recursive=True) if Path(m).is_file())
            if not matches:
                raise InputError(
                    f"config: `{key}` entry {pattern!r} matches no file; fix the path or glob."
                )
        elif Path(pattern).is_file():
            matches = [pattern]
        else:
            raise InputError(
                f"config: `{key}` points to {pattern}, which does not exist; fix the path."
            )
        for match in matches:
            resolved = Path(match).resolve()
            if resolved not in seen:
                seen.add(resolved)
                paths.append(match)
    return paths


def as_paths(paths: PathOrPaths, what: str = "vector") -> list[Path]:
    """One path or a sequence of paths as a list of Paths (a string is one path, not letters)."""
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    listed = [Path(p) for p in paths]
    if not listed:
        raise InputError(f"no {what} file given; give at least one path.")
    return listed


def describe_paths(paths: Sequence[Path]) -> str:
    """The files for a message: the one path as given, or the first few and how many more."""
    if len(paths) <= 3:
        return ", ".join(str(p) for p in paths)
    return f"{paths[0]}, {paths[1]} and {len(paths) - 2} more files"


def format_bounds(bounds: Sequence[float], unit: str = "m", digits: int = 0) -> str:
    """``(xmin, ymin, xmax, ymax)`` for a message: ``x 810,000 to 810,500 m, y ...``.

    Plain numbers with thousands separators: never a tuple or numpy's ``np.float64(...)``.
    """
    xmin, ymin, xmax, ymax = (float(b) for b in bounds)
    spec = f",.{digits}f"
    suffix = f" {unit}" if unit else ""
    return f"x {xmin:{spec}} to {xmax:{spec}}{suffix}, y {ymin:{spec}} to {ymax:{spec}}{suffix}"


def repeated_geometries(
    geoms: np.ndarray, earlier: np.ndarray, tolerance: float = DUPLICATE_TOLERANCE_M
) -> np.ndarray:
    """Boolean mask of ``geoms`` that repeat one of ``earlier`` (the same shape, in one CRS).

    The same means: bounding boxes within ``tolerance``, areas within a ``tolerance``-wide
    band along the boundary and a Hausdorff distance within ``tolerance``. Ring start,
    orientation and vertices added on a straight edge do not matter, so one footprint
    written by two tools, or reprojected there and back, is recognised.
    """
    repeated = np.zeros(len(geoms), dtype=bool)
    if len(geoms) == 0 or len(earlier) == 0:
        return repeated
    pos, other = shapely.STRtree(earlier).query(geoms, predicate="dwithin", distance=tolerance)
    a, b = geoms[pos], earlier[other]
    # Cheap tests first: most candidates are neighbours that merely touch.
    close = np.all(np.abs(shapely.bounds(a) - shapely.bounds(b)) <= tolerance, axis=1)
    close &= np.abs(shapely.area(a) - shapely.area(b)) <= tolerance * np.maximum(
        shapely.length(a), shapely.length(b)
    )
    pos, a, b = pos[close], a[close], b[close]
    repeated[pos[shapely.hausdorff_distance(a, b) <= tolerance]] = True
    return repeated
