"""Small I/O helpers shared by stages: atomic writes and existence checks."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from satcluster.errors import InputError

__all__ = ["atomic_path", "require_file"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The parent directory is created. On any exception the temporary file is removed,
    so a failed step never leaves a half-written output behind. The file gets the
    permissions a plain ``open()`` would give it (0666 minus the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files: give the output the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def require_file(path: str | os.PathLike, what: str, key: str | None = None) -> Path:
    """Return ``path`` as a Path, or raise InputError naming it (and the config key).

    ``what`` says what the file is ("building footprints"); ``key`` is the config key
    that gave the path, e.g. ``inputs.buildings``.
    """
    path = Path(path)
    if not path.is_file():
        where = f" (config key `{key}`)" if key else ""
        raise InputError(
            f"{what} file not found: {path}{where}. Check the path, or enable the demo city "
            "with `demo: {enabled: true}`."
        )
    return path
