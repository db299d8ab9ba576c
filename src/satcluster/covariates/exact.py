"""exactextract, wrapped: coverage-weighted sums of an in-memory raster over geometries.

exactextract weights every pixel by the fraction of its area inside the geometry. The
adapters below hand it the geometries as WKB and collect its results as plain dicts;
``satcluster.covariates.zonal`` reads the raster windows and calls ``coverage_sums``.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from exactextract import Feature, FeatureSource, Writer, exact_extract
from exactextract.raster import NumPyRasterSource
from pyproj import CRS

__all__ = ["coverage_sums"]


class _Tile(Feature):
    """One tile handed to exactextract as WKB (GeoJSON round trips cost 8x more)."""

    def __init__(self, position: int, wkb: bytes):
        Feature.__init__(self)
        self.position = position
        self.wkb = wkb

    def geometry(self) -> bytes:
        return self.wkb

    def set_geometry_format(self) -> str:
        return "wkb"

    def get(self, name: str) -> int:
        return self.position

    def fields(self) -> list[str]:
        return ["position"]


class _Tiles(FeatureSource):
    def __init__(self, geoms: np.ndarray, srs_wkt: str):
        super().__init__()
        self.wkbs = shapely.to_wkb(geoms)
        self.wkt = srs_wkt

    def count(self) -> int:
        return len(self.wkbs)

    def __iter__(self):
        for position, wkb in enumerate(self.wkbs):
            yield _Tile(position, wkb)

    def srs_wkt(self) -> str:
        return self.wkt


class _Result(Feature):
    def __init__(self):
        Feature.__init__(self)
        self.values: dict[str, float] = {}

    def set(self, name: str, value: float) -> None:
        self.values[name] = value

    def set_geometry(self, wkb: bytes | None) -> None:
        pass

    def set_geometry_format(self) -> str:
        return "wkb"


class _ResultRows(Writer):
    """Collects each tile's results as a plain dict."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict[str, float]] = []

    def add_operation(self, op) -> None:
        pass

    def add_column(self, name: str) -> None:
        pass

    def add_geometry(self) -> None:
        pass

    def write(self, feature) -> None:
        result = _Result()
        feature.copy_to(result)
        self.rows.append(result.values)

    def features(self) -> list[dict[str, float]]:
        return self.rows


def coverage_sums(
    geoms: gpd.GeoSeries,
    values: np.ndarray,
    transform: Affine,
    crs: CRS,
    progress: Callable[[float, str], None] | None = None,
) -> pd.DataFrame:
    """Coverage-weighted ``sum`` and ``count`` of valid (non-NaN) pixels of an in-memory raster.

    ``count`` is the number of valid pixels weighted by the fraction of each inside
    the geometry; ``sum`` weights the pixel values the same way. ``progress`` is
    called with the fraction of geometries done. The index is the geometries' index.
    """
    rows, cols = values.shape
    xmin, ymax = transform.c, transform.f
    xmax, ymin = transform @ (cols, rows)
    wkt = CRS(crs).to_wkt()
    source = NumPyRasterSource(values, xmin, ymin, xmax, ymax, name="values", srs_wkt=wkt)
    results = exact_extract(
        source,
        _Tiles(geoms.to_numpy(), wkt),
        ["sum", "count"],
        include_cols=["position"],
        output=_ResultRows(),
        progress=progress or False,
    )
    table = pd.DataFrame(results, columns=["position", "sum", "count"]).set_index("position")
    table = table.reindex(np.arange(len(geoms)))  # exactextract returns them in order anyway
    table.index = geoms.index
    return table.astype(float)
