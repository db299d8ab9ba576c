"""Small I/O helpers shared by stages: atomic writes and existence checks.

An output that cannot be written (read-only folder, full disk, quota) is a problem of the
machine, not of the code: ``atomic_path`` turns it into an ``OutputWriteError`` (an
``InputError``) that names the output and the fix, and leaves no partial file behind;
``user_errors_exit`` prints it as one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from satcluster.errors import InputError

__all__ = [
    "MIN_FREE_BYTES",
    "WRITE_ERRNOS",
    "OutputWriteError",
    "atomic_file_and_folder",
    "atomic_path",
    "describe_os_error",
    "require_file",
]

# errno values that say "this machine cannot store the file here", never "the code is wrong".
WRITE_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
)
# Writers that hide the errno (torch.save raises RuntimeError, np.save an OSError without
# errno on a short write, GDAL its own errors): a folder with less free space than this when
# the writer failed is taken as full. A failed write leaves at most a block or two free.
MIN_FREE_BYTES = 2**20

_HINT = "check that the folder is writable and the disk is not full (or over quota), then rerun"


class OutputWriteError(InputError):
    """Output files could not be written: no permission, read-only or full file system.

    A user-fixable problem of the machine (an ``InputError``, so scripts print it as one
    line). ``paths`` are the outputs (several when the system did not say which of the
    files being written failed), ``errno`` the system's error number (None if unknown).
    """

    def __init__(self, paths: Sequence[str | os.PathLike], reason: str, errno_: int | None = None):
        self.paths = [Path(p) for p in paths]
        self.errno = errno_
        names = ", ".join(str(p) for p in self.paths)
        super().__init__(f"cannot write {names}: {reason}; {_HINT}.")

    @classmethod
    def from_os_error(cls, paths: Sequence[str | os.PathLike], err: OSError) -> OutputWriteError:
        return cls(paths, err.strerror or str(err), err.errno)


def describe_os_error(err: OSError) -> str:
    """One line for an OSError of the machine (permissions, space): what failed, on what, the fix."""
    where = f" {err.filename}" if err.filename is not None else ""
    return (
        f"cannot access{where}: {err.strerror or err}; check the permissions of the file and "
        "its folder, and that the disk is not full (or over quota), then rerun."
    )


# The atomic_path blocks open in this thread, innermost last, as (temporary, output): an
# error that names no file (a failed write(2) on a full disk) may come from any of them.
_open_outputs = threading.local()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The parent directory is created. On any exception the temporary file is removed,
    so a failed step never leaves a half-written output behind. The file gets the
    permissions a plain ``open()`` would give it (0666 minus the umask).

    A write the machine refuses (no permission, read-only or full disk, quota, file size
    limit) raises ``OutputWriteError`` naming ``path`` (and the other outputs being written
    when the system's error does not say which file failed); other errors pass unchanged.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(path)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=_tmp_suffix(path)
        )
        os.close(fd)
    except OSError as err:  # the folder itself refuses the file: always the machine's problem
        raise OutputWriteError.from_os_error([path], err) from err
    tmp_path = Path(tmp)
    open_outputs = _open_outputs.__dict__.setdefault("stack", [])
    open_outputs.append((tmp_path, path))
    try:
        yield tmp_path
    except OutputWriteError:  # from an atomic_path nested in this one: it names the files
        _discard(tmp_path)
        raise
    except Exception as err:
        refused = _refused_write(err, open_outputs)  # before discarding: free space counts
        _discard(tmp_path)
        if refused is not None:
            raise refused from err
        raise
    except BaseException:  # KeyboardInterrupt, SystemExit: clean up, change nothing
        _discard(tmp_path)
        raise
    finally:
        open_outputs.remove((tmp_path, path))
    try:
        # mkstemp creates 0600 files: give the output the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except OSError as err:
        _discard(tmp_path)
        raise OutputWriteError.from_os_error([path], err) from err


def _tmp_suffix(path: Path) -> str:
    return ".tmp" + path.suffix  # the output's suffix last: writers that go by it still work


def _remove_leftovers(path: Path) -> None:
    """Delete temporaries of ``path`` left by a writer that was killed (SIGKILL, node failure).

    Such a writer never reached its clean-up, and a rerun would leave its file (as big as
    the output) behind for good. Safe: only atomic_path(path) creates files named
    ``.<name>.<8 random characters>.tmp<suffix>`` beside ``path``, and only one writer of an
    output runs at a time (Snakemake runs one job per output and locks the outputs of a
    run against a second run), so such a file is never that of a live writer.
    """
    pattern = f".{glob.escape(path.name)}.{'?' * 8}{glob.escape(_tmp_suffix(path))}"
    for leftover in path.parent.glob(pattern):
        _discard(leftover)


def _refused_write(
    err: Exception, open_outputs: list[tuple[Path, Path]]
) -> OutputWriteError | None:
    """The OutputWriteError for ``err``, raised in the innermost of ``open_outputs``, or None.

    An OSError counts when its errno says permissions or space and it names the innermost
    temporary file (or a side file of it: ``tmp`` + suffix; an outer atomic_path checks its
    own when the error reaches it), or no file at all (then every open output is named:
    any may have failed). A read error on an input keeps its own message. Any error
    counts when the innermost output's folder is left (almost) without free space:
    writers that hide the errno.
    """
    tmp, path = open_outputs[-1]
    if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
        names = [n for n in (err.filename, err.filename2) if n is not None]
        if not names:
            return OutputWriteError.from_os_error([p for _, p in open_outputs], err)
        if all(_is_under(name, tmp) for name in names):
            return OutputWriteError.from_os_error([path], err)
    if _free_bytes(tmp.parent) < MIN_FREE_BYTES:
        return OutputWriteError([path], f"no space left on the disk ({err})", errno.ENOSPC)
    return None


def _is_under(name: object, tmp: Path) -> bool:
    """Whether an error's file name is ``tmp`` or a side file of it (``tmp`` + suffix)."""
    if not isinstance(name, (str, bytes, os.PathLike)):
        return False  # a file descriptor: we cannot tell which file
    return os.path.abspath(os.fsdecode(name)).startswith(os.path.abspath(tmp))


def _free_bytes(folder: Path) -> float:
    """Bytes an unprivileged writer may still use in ``folder`` (infinite if unknown)."""
    try:
        stats = os.statvfs(folder)
    except (AttributeError, OSError):  # not POSIX, or the folder is gone
        return float("inf")
    return stats.f_bavail * stats.f_frsize


def _discard(tmp: Path) -> None:
    """Remove a temporary file; a failure to do so must not hide the error being raised."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


# --- a file and a folder written together (a page and its files) ---------------------------
def _remove_leftover_folders(folder: Path) -> None:
    """Temporary folders of ``folder`` left by a writer that was killed (see atomic_path)."""
    for leftover in folder.parent.glob(f".{folder.name}.{'?' * 8}.*"):
        if leftover.suffix in (".tmp", ".old") and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def _new_folder(folder: Path, suffix: str) -> Path:
    """An empty folder beside ``folder`` with the permissions a plain mkdir gives."""
    path = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=suffix))
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o777 & ~umask)
    return path


@contextlib.contextmanager
def atomic_file_and_folder(page: Path, folder: Path) -> Iterator[tuple[Path, Path]]:
    """Yield a temporary file and folder beside ``page`` and ``folder``; rename both into
    place when the block ends, or leave both as they were (an error, or an interrupt).

    The new folder replaces the old one first, which is kept aside until the page is
    renamed, and put back if that fails; a refused write (no permission, full disk) is an
    OutputWriteError naming both.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftover_folders(folder)
    tmp_folder = aside = None
    moved = False  # the previous folder is aside or the new one in place: undone on failure
    try:
        with atomic_path(page) as tmp_page:
            tmp_folder = _new_folder(folder, ".tmp")
            yield tmp_page, tmp_folder
            if folder.is_dir():
                aside = _new_folder(folder, ".old")
                os.replace(folder, aside)
            moved = True
            os.replace(tmp_folder, folder)
        # atomic_path has renamed the page: both are in place
    except BaseException as err:
        if moved:
            _restore(folder, aside)
        if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
            raise OutputWriteError.from_os_error([page, folder], err) from err
        raise
    finally:
        for leftover in (tmp_folder, aside):
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)


def _restore(folder: Path, old: Path | None) -> None:
    """Put the previous folder back (or remove the new one when there was none)."""
    shutil.rmtree(folder, ignore_errors=True)
    if old is not None:
        with contextlib.suppress(OSError):
            os.replace(old, folder)


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
