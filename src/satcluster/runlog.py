"""Logging set-up and clean error exits for the workflow's thin scripts."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from satcluster.errors import InputError
from satcluster.io import WRITE_ERRNOS, describe_os_error

__all__ = ["LOG_FORMAT", "setup_logging", "timed", "user_errors_exit", "warn_in_first_chunk"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send logging (and stderr, so tqdm and warnings land there too) to ``log_path``.

    The file is appended to (its folder created); without a path, logging goes to
    stderr. Returns the ``satcluster`` logger.
    """
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        sys.stderr = stream
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    logging.captureWarnings(True)
    return logging.getLogger("satcluster")


@contextlib.contextmanager
def user_errors_exit(logger: logging.Logger | None = None) -> Iterator[None]:
    """Turn a user's or the machine's problem into one clear message and exit status 1.

    An InputError (bad input or config; an output the machine refused, OutputWriteError),
    or an OSError whose errno says permissions or space (EACCES, EROFS, ENOSPC, EDQUOT...)
    raised outside ``atomic_path``: one line in the log and on stderr, no traceback.
    Everything else is a bug and keeps its traceback.
    """
    try:
        yield
    except InputError as err:
        _exit_with(str(err), logger)
    except OSError as err:
        if err.errno not in WRITE_ERRNOS:
            raise
        _exit_with(describe_os_error(err), logger)


def _exit_with(text: str, logger: logging.Logger | None) -> None:
    message = f"satcluster: error: {text}"
    (logger or logging.getLogger("satcluster")).error(message)
    print(message, file=sys.__stderr__, flush=True)
    sys.exit(1)


@contextlib.contextmanager
def timed(logger: logging.Logger, what: str) -> Iterator[None]:
    """Log how long the block took, in seconds at INFO ("<what> took 1.23 s").

    Nothing is logged when the block raises.
    """
    start = time.perf_counter()
    yield
    logger.info("%s took %.2f s", what, time.perf_counter() - start)


class _WarningsAsInfo(logging.Filter):
    """Logs WARNING records of the loggers under ``prefixes`` as INFO."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and record.name.startswith(self.prefixes):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


@contextlib.contextmanager
def warn_in_first_chunk(
    chunk: int, prefixes: tuple[str, ...] = ("satcluster.covariates", "py.warnings")
) -> Iterator[None]:
    """Warnings about a whole source as WARNING in chunk 0's job only, as INFO in the others.

    Every chunk job of a covariate source opens the whole source (a Landsat level that
    cannot be verified, nodata fill values of a population raster) and would warn about
    it once per chunk; the message stays in every log, but a run warns once. Python
    warnings (``warnings.warn``, logged as ``py.warnings`` by ``setup_logging``) count too.
    """
    if chunk == 0:
        yield
        return
    demote = _WarningsAsInfo(prefixes)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(demote)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(demote)
