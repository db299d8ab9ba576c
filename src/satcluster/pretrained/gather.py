"""Features chunk files joined into one .npy as streams: bounded memory, no torch.

The chunks are float32 ``N_i x D`` .npy files (extract.py writes them with ``write_header``,
the header np.save writes); ``gather_features`` writes the joined header, then copies each
chunk's data bytes block by block, so memory stays at one block whatever the size. No
torch here: a gather job starts fast and small.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from satcluster.errors import InputError
from satcluster.io import atomic_path

__all__ = ["FEATURE_DTYPE", "gather_features", "write_header"]

FEATURE_DTYPE = "<f4"
COPY_BLOCK_BYTES = 16 * 2**20  # chunk files are copied in blocks of this size


def write_header(out: BinaryIO, shape: tuple[int, int]) -> None:
    """The .npy header of a C-order float32 array (the bytes np.save writes)."""
    header = {"descr": FEATURE_DTYPE, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)


def _read_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of a C-order .npy file, or InputError."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            reader = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran_order, dtype = reader(f)
            offset = f.tell()
    except FileNotFoundError:
        raise InputError(f"features chunk not found: {path}; rerun its extraction.") from None
    except ValueError as err:
        raise InputError(f"{path} is not a readable .npy file ({err}).") from None
    if fortran_order:
        raise InputError(f"{path} is a Fortran-order array; expected features as written here.")
    return shape, dtype, offset


def gather_features(chunk_paths: Sequence[str | Path], out_path: str | Path) -> Path:
    """Concatenate float32 ``N_i x D`` chunk files, in order, into one .npy (streamed, atomic).

    Memory stays at one copy block whatever the size: the header is written first, then
    each chunk's data bytes are copied as they are.
    """
    paths = [Path(p) for p in chunk_paths]
    if not paths:
        raise InputError("no features chunks to gather.")
    headers = [_read_header(p) for p in paths]
    dims = {shape[1:] for shape, _, _ in headers}
    for path, (shape, dtype, offset) in zip(paths, headers, strict=True):
        if len(shape) != 2 or dtype != np.dtype(FEATURE_DTYPE):
            raise InputError(f"{path} holds {dtype} {shape}; expected float32 features N x D.")
        if path.stat().st_size != offset + shape[0] * shape[1] * dtype.itemsize:
            raise InputError(f"{path} is truncated or padded; rerun its extraction.")
    if len(dims) != 1:
        raise InputError(
            f"features chunks have different lengths {sorted(d[0] for d in dims)}: they come from "
            "different backbones; rerun the extraction of all chunks."
        )
    total = sum(shape[0] for shape, _, _ in headers)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp, open(tmp, "wb") as out:
        write_header(out, (total, headers[0][0][1]))
        for path, (_, _, offset) in zip(paths, headers, strict=True):
            with open(path, "rb") as src:
                src.seek(offset)
                shutil.copyfileobj(src, out, COPY_BLOCK_BYTES)
    return out_path
