"""Mean NDVI per tile from Landsat 8-9 Collection 2 Level-2 red, NIR and QA_PIXEL bands.

Digital numbers are scaled to surface reflectance before the ratio (on raw DNs
the additive offset biases NDVI badly: 0.379 instead of 0.761 on one pixel).
Pixels are masked where QA_PIXEL has any of bits 0-4 set (fill, dilated cloud,
cirrus, cloud, cloud shadow), where a band is fill (DN 0) or no data, and where
the reflectances sum to <= 0 (the ratio is meaningless there). NDVI is clipped to
[-1, 1], which only matters for slightly negative reflectances over dark water.

``ndvi_mean`` is the coverage-weighted mean over valid pixels and
``ndvi_valid_fraction`` the share of the tile covered by valid pixels; a fully
masked tile (or one outside the scene) gets NaN mean and fraction 0.

The bands' product is checked first (``landsat_product.check_landsat_bands``):
Level-1, Collection 1 and pre-collection files stop the run. ``ndvi_table`` and
``normalized_difference`` are shared with the Sentinel-2 L2A reader
(``satcluster.covariates.sentinel2``), which returns the same columns; which product
a table came from is ``ndvi_source(table)``: "sentinel2" is recorded in
``table.attrs`` (kept in the Parquet metadata), and a table without it is Landsat's,
so Landsat tables are exactly what they were. It is not a per-tile string column
because every covariate column is numeric (naming takes medians and ranks of all of
them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.io import DatasetReader

from satcluster.covariates.landsat_product import check_landsat_bands
from satcluster.covariates.zonal import ValuesFromBands, check_same_grid, open_raster, zonal_sums

__all__ = [
    "COLUMNS",
    "NDVI_SOURCE_ATTR",
    "QA_MASK_BITS",
    "REFLECTANCE_OFFSET",
    "REFLECTANCE_SCALE",
    "landsat_ndvi",
    "ndvi_covariates",
    "ndvi_source",
    "ndvi_table",
    "normalized_difference",
    "valid_pixels",
    "qa_clear",
    "reflectance",
]

COLUMNS = ["ndvi_mean", "ndvi_valid_fraction"]
# Key of ``DataFrame.attrs`` naming the product of an NDVI table ("sentinel2"); absent: Landsat.
NDVI_SOURCE_ATTR = "ndvi_source"

# Collection 2 Level-2 surface reflectance scaling (USGS Landsat 8-9 C2 L2 guide).
REFLECTANCE_SCALE = 0.0000275
REFLECTANCE_OFFSET = -0.2
# QA_PIXEL bits 0-4: fill, dilated cloud, cirrus, cloud, cloud shadow.
QA_MASK_BITS = 0b11111


def reflectance(dn: np.ndarray) -> np.ndarray:
    """Surface reflectance (float32) from Collection 2 Level-2 digital numbers."""
    return (dn.astype(np.float32) * np.float32(REFLECTANCE_SCALE)) + np.float32(REFLECTANCE_OFFSET)


def qa_clear(qa: np.ndarray) -> np.ndarray:
    """True where none of QA_PIXEL bits 0-4 (fill, clouds, cirrus, shadow) is set."""
    return (np.asarray(qa).astype(np.uint16) & QA_MASK_BITS) == 0


def landsat_ndvi(
    red_dn: np.ma.MaskedArray, nir_dn: np.ma.MaskedArray, qa: np.ma.MaskedArray
) -> np.ndarray:
    """NDVI (float32) from red/NIR digital numbers and QA_PIXEL, NaN where masked."""
    red_dn, nir_dn, qa = (np.ma.asarray(band) for band in (red_dn, nir_dn, qa))
    valid = valid_pixels(qa_clear(qa.data), qa, red_dn, nir_dn)
    return normalized_difference(reflectance(red_dn.data), reflectance(nir_dn.data), valid)


def valid_pixels(
    clear: np.ndarray,
    quality: np.ma.MaskedArray,
    red_dn: np.ma.MaskedArray,
    nir_dn: np.ma.MaskedArray,
) -> np.ndarray:
    """Pixels whose quality band says clear and that no band masks (DN 0 is no data too)."""
    return (
        clear
        & ~np.ma.getmaskarray(quality)
        & ~np.ma.getmaskarray(red_dn)
        & ~np.ma.getmaskarray(nir_dn)
        & (red_dn.data != 0)
        & (nir_dn.data != 0)
    )


def normalized_difference(red: np.ndarray, nir: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """NDVI (float32) from red/NIR reflectances where ``valid``, NaN elsewhere.

    Pixels whose reflectances sum to <= 0 are NaN too; NDVI is clipped to [-1, 1].
    """
    total = red + nir
    valid = valid & (total > 0)
    ndvi = np.full(red.shape, np.nan, dtype=np.float32)
    ndvi[valid] = np.clip((nir[valid] - red[valid]) / total[valid], -1.0, 1.0)
    return ndvi


def _ndvi_from_bands(bands: list[np.ma.MaskedArray]) -> np.ndarray:
    red_dn, nir_dn, qa = bands
    return landsat_ndvi(red_dn, nir_dn, qa)


def ndvi_table(
    tiles: gpd.GeoDataFrame,
    datasets: Sequence[DatasetReader],
    values_from_bands: ValuesFromBands,
    what: str,
) -> pd.DataFrame:
    """``ndvi_mean`` and ``ndvi_valid_fraction`` per tile from bands on one grid.

    ``values_from_bands`` turns the bands' windows into NDVI with NaN where masked;
    ``what`` names the product in progress bars and warnings.
    """
    sums = zonal_sums(tiles.geometry, datasets, values_from_bands, what=what)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums["sum"].to_numpy() / sums["count"].to_numpy()
    return pd.DataFrame(
        {"ndvi_mean": mean, "ndvi_valid_fraction": sums["valid_fraction"].to_numpy()},
        index=tiles.index,
    )


def ndvi_source(table: pd.DataFrame) -> str:
    """The product an NDVI table came from: "landsat" or "sentinel2"."""
    return str(table.attrs.get(NDVI_SOURCE_ATTR, "landsat"))


def ndvi_covariates(
    tiles: gpd.GeoDataFrame, red_path: str | Path, nir_path: str | Path, qa_path: str | Path
) -> pd.DataFrame:
    """``ndvi_mean`` and ``ndvi_valid_fraction`` per tile (index tile_id).

    The three bands must be Landsat 8-9 Collection 2 Level-2 SR_B4, SR_B5 and
    QA_PIXEL (InputError when their names or MTL files say otherwise) on one grid;
    only the windows under the tiles are read.
    """
    with (
        open_raster(red_path, "Landsat red (SR_B4)") as red,
        open_raster(nir_path, "Landsat NIR (SR_B5)") as nir,
        open_raster(qa_path, "Landsat QA_PIXEL") as qa,
    ):
        check_landsat_bands({"red": red_path, "nir": nir_path, "qa": qa_path})
        check_same_grid({"red (SR_B4)": red, "NIR (SR_B5)": nir, "QA_PIXEL": qa})
        return ndvi_table(tiles, [red, nir, qa], _ndvi_from_bands, what="Landsat")
