"""Checks shared by every reader of the workflow's tables: columns present, cluster ids in range.

``require_columns`` is the one "lacks column(s)" check: a table (or the column names of a
file) must hold the columns a step reads, else an InputError names the table, the missing
columns and what to do. ``check_labels`` checks cluster ids against k; ``read_table`` reads
a CSV table the workflow wrote, checking its columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from satcluster.errors import InputError
from satcluster.io import require_file

__all__ = ["LACKS", "check_labels", "read_table", "require_columns"]

# The start of the error: {source} names the table, {missing} lists the missing columns.
LACKS = "{source} lacks column(s) {missing}"


def require_columns(
    table: pd.DataFrame | Iterable[str],
    columns: Sequence[str],
    source: str | Path,
    hint: str | None = None,
    *,
    message: str = LACKS,
) -> None:
    """InputError unless ``table`` (a DataFrame, or the column names of a file) has ``columns``.

    The error reads ``message`` (``"{source} lacks column(s) a, b"``, the missing columns in
    the order of ``columns``), then ``"; " + hint`` or, without a hint, the columns the table
    has: ``" (has c, d)."``.
    """
    present = list(table.columns) if isinstance(table, pd.DataFrame) else list(table)
    missing = [c for c in columns if c not in set(present)]
    if missing:
        text = message.format(source=source, missing=", ".join(missing))
        tail = f"; {hint}" if hint else f" (has {', '.join(map(str, present))})."
        raise InputError(text + tail)


def check_labels(labels: np.ndarray, n_clusters: int, where: str) -> np.ndarray:
    """Integer cluster ids in 0..n_clusters-1, or InputError naming ``where``."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_clusters):
        raise InputError(
            f"{where}: cluster ids range {labels.min()}..{labels.max()} but k is {n_clusters}; "
            "the clusters were made with other `clusters.ks`/`clusters.final_k`: rerun the "
            "clusters and assemble stages with the current config."
        )
    return labels.astype(np.int64)


def read_table(path: str | Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """A CSV table written by the workflow; InputError naming the file when ``columns`` lack."""
    table = pd.read_csv(require_file(path, what))
    require_columns(
        table,
        columns,
        path,
        f"it must be the {what} written by the workflow: delete it and rerun "
        f"`snakemake --cores all {path}`.",
    )
    return table
