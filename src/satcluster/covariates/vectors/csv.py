"""Streaming CSV files whose geometry column holds WKT (e.g. Google Open Buildings).

Rows are read in chunks, optionally pre-selected by a point column pair and a row
filter before the WKT is parsed, so memory follows the kept rows, not the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from tqdm import tqdm

from satcluster.covariates.vectors.io import WGS84, Bounds, require_nonempty_file
from satcluster.errors import InputError
from satcluster.tables import require_columns

__all__ = ["read_wkt_csv"]


def read_wkt_csv(
    path: str | Path,
    *,
    what: str = "vector",
    required: Sequence[str] = ("geometry",),
    geometry_column: str = "geometry",
    crs: object = WGS84,
    bbox: Bounds | None = None,
    point_columns: tuple[str, str] | None = None,
    margin: float = 0.0,
    row_filter: Callable[[pd.DataFrame], pd.Series] | None = None,
    chunksize: int = 250_000,
) -> tuple[gpd.GeoDataFrame, int]:
    """Stream a CSV whose ``geometry_column`` holds WKT (in ``crs``); return (frame, rows read).

    Rows are read ``chunksize`` at a time so memory follows the kept rows, not
    the file. With ``bbox`` (in ``crs``) and ``point_columns`` (x, y of a point
    inside each feature, e.g. longitude/latitude), rows whose point lies more
    than ``margin`` outside the bbox are dropped before parsing WKT; the parsed
    geometries are then filtered exactly. ``row_filter`` returns a boolean mask
    of rows to keep (e.g. a confidence threshold).
    """
    path = require_nonempty_file(path, what)
    box = None if bbox is None else shapely.box(*bbox)
    parts, n_rows = [], 0
    try:
        reader = pd.read_csv(path, chunksize=chunksize)
        for chunk in tqdm(reader, desc=f"reading {path.name}", unit="chunk", leave=False):
            n_rows += len(chunk)
            require_columns(
                chunk,
                required,
                f"{what} CSV {path}",
                f"it has {', '.join(map(str, chunk.columns))}.",
                message="{source} lacks the column(s) {missing}",
            )
            if box is not None and point_columns is not None:
                x, y = (chunk[c] for c in point_columns)
                near = x.between(bbox[0] - margin, bbox[2] + margin) & y.between(
                    bbox[1] - margin, bbox[3] + margin
                )
                chunk = chunk[near]
            if row_filter is not None:
                chunk = chunk[row_filter(chunk).to_numpy(dtype=bool)]
            geometry = _parse_wkt(chunk[geometry_column], path, what)
            frame = gpd.GeoDataFrame(
                chunk.drop(columns=geometry_column), geometry=geometry, crs=crs
            )
            if box is not None:
                frame = frame[frame.intersects(box)]
            parts.append(frame)
    except pd.errors.ParserError as err:
        raise InputError(f"cannot parse {what} CSV {path}: {err}.") from err
    except pd.errors.EmptyDataError as err:
        raise InputError(f"{what} CSV {path} has no header line; is it the right file?") from err
    if not parts:
        return gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=crs), n_rows
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs), n_rows


def _parse_wkt(text: pd.Series, path: Path, what: str) -> gpd.array.GeometryArray:
    try:
        return gpd.array.from_shapely(shapely.from_wkt(text.to_numpy(dtype=object)))
    except shapely.errors.GEOSException as err:
        raise InputError(f"{what} CSV {path} has a geometry that is not valid WKT: {err}.") from err
