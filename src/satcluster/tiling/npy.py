"""The uint8 ``.npy`` files of tiles, written and copied without holding them in memory.

A scene's tiles are streamed under a header sized for every cell and then cut to the
kept tiles by rewriting the header in place (same length); the gather copies runs of
tiles file to file, in the kernel where the platform allows it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["COPY_CHUNK_BYTES", "copy_bytes", "set_npy_rows", "write_npy_header"]

COPY_CHUNK_BYTES = 256 * 2**20  # largest single copy in the gather


def write_npy_header(f: BinaryIO, shape: tuple[int, ...]) -> int:
    """Write the .npy header of a uint8 C-order array of ``shape``; return the data offset."""
    header = {"descr": "|u1", "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(f, header)
    return f.tell()


def set_npy_rows(path: Path, n_rows: int) -> None:
    """Rewrite a uint8 .npy header (same length) to ``n_rows`` rows and cut the file there."""
    with open(path, "r+b") as f:
        np.lib.format.read_magic(f)
        shape, _, _ = np.lib.format.read_array_header_1_0(f)
        data_offset = f.tell()
        new_shape = (n_rows, *shape[1:])
        header = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {new_shape!r}, }}"
        f.seek(10)  # magic string (6), version (2) and header length (2) of format 1.0
        f.write(header.ljust(data_offset - 10 - 1).encode("latin1") + b"\n")
        f.truncate(data_offset + n_rows * int(np.prod(shape[1:])))


def copy_bytes(src_fd: int, src_offset: int, dst_fd: int, dst_offset: int, n: int) -> None:
    """Copy ``n`` bytes between two files, in the kernel where the platform allows it."""
    while n > 0:
        step = min(n, COPY_CHUNK_BYTES)
        try:
            done = os.copy_file_range(src_fd, dst_fd, step, src_offset, dst_offset)
        except (AttributeError, OSError):  # not Linux, or a file system without it
            done = os.pwrite(dst_fd, os.pread(src_fd, step, src_offset), dst_offset)
        if done <= 0:
            raise OSError(f"short copy: {n} bytes left at offset {src_offset}")
        n, src_offset, dst_offset = n - done, src_offset + done, dst_offset + done
