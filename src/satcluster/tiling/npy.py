"""The uint8 ``.npy`` files of tiles, written and copied without holding them in memory.

A scene's kept tiles are streamed under a header sized for every cell, which is then
rewritten in place (same length) to their number; the gather copies runs of tiles file
to file, in the kernel where the platform allows it. Outputs are opened without
truncation (``open_for_writing``), so that closing them does not start their writeback.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = [
    "COPY_CHUNK_BYTES",
    "copy_bytes",
    "npy_header",
    "open_for_writing",
    "rewrite_npy_rows",
    "write_npy_header",
]

COPY_CHUNK_BYTES = 256 * 2**20  # largest single copy in the gather
_HEADER_START = 10  # magic string (6), version (2) and header length (2) of format 1.0


def npy_header(shape: tuple[int, ...]) -> bytes:
    """The .npy header (format 1.0, padded as numpy pads it) of a uint8 C-order array."""
    header = {"descr": "|u1", "fortran_order": False, "shape": tuple(shape)}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def write_npy_header(f: BinaryIO, shape: tuple[int, ...]) -> int:
    """Write the .npy header of a uint8 C-order array of ``shape``; return the data offset."""
    f.write(npy_header(shape))
    return f.tell()


def open_for_writing(path: Path) -> BinaryIO:
    """Open the empty file that ``atomic_path`` created, for writing, without truncating it.

    ``open(path, "wb")`` truncates, and ext4 (``auto_da_alloc``) treats a truncated file
    as a rewrite: closing it starts the writeback of the whole file in the writer's
    process (tens of ms per 100 MB). The file is empty, so there is nothing to truncate.
    """
    return open(path, "r+b")


def rewrite_npy_rows(f: BinaryIO, data_offset: int, n_rows: int) -> None:
    """Rewrite, in place and at the same length, the header of ``f`` to ``n_rows`` rows.

    ``f`` holds a uint8 .npy whose header ends at ``data_offset``; only its first axis
    changes. The caller has written exactly ``n_rows`` rows, so nothing is truncated.
    """
    f.seek(0)
    np.lib.format.read_magic(f)
    shape, _, _ = np.lib.format.read_array_header_1_0(f)
    new_shape = (n_rows, *shape[1:])
    header = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {new_shape!r}, }}"
    f.seek(_HEADER_START)
    f.write(header.ljust(data_offset - _HEADER_START - 1).encode("latin1") + b"\n")


def copy_bytes(src_fd: int, src_offset: int, dst_fd: int, dst_offset: int, n: int) -> None:
    """Copy ``n`` bytes between two files, in the kernel where the platform allows it.

    ``os.copy_file_range`` shares the blocks instead of copying them where the file system
    has reflinks (XFS, Btrfs) and the offsets are block-aligned.
    """
    while n > 0:
        step = min(n, COPY_CHUNK_BYTES)
        try:
            done = os.copy_file_range(src_fd, dst_fd, step, src_offset, dst_offset)
        except (AttributeError, OSError):  # not Linux, or a file system without it
            done = os.pwrite(dst_fd, os.pread(src_fd, step, src_offset), dst_offset)
        if done <= 0:
            raise OSError(f"short copy: {n} bytes left at offset {src_offset}")
        n, src_offset, dst_offset = n - done, src_offset + done, dst_offset + done
