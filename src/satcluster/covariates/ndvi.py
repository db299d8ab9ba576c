"""Mean NDVI per tile from Landsat 8 Collection 2 Level-2 red, NIR and QA_PIXEL bands.

Digital numbers are scaled to surface reflectance before the ratio (on raw DNs
the additive offset biases NDVI badly: 0.379 instead of 0.761 on one pixel).
Pixels are masked where QA_PIXEL has any of bits 0-4 set (fill, dilated cloud,
cirrus, cloud, cloud shadow), where a band is fill (DN 0) or no data, and where
the reflectances sum to <= 0 (the ratio is meaningless there). NDVI is clipped to
[-1, 1], which only matters for slightly negative reflectances over dark water.

``ndvi_mean`` is the coverage-weighted mean over valid pixels and
``ndvi_valid_fraction`` the share of the tile covered by valid pixels; a fully
masked tile (or one outside the scene) gets NaN mean and fraction 0.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from satcluster.covariates.zonal import check_same_grid, open_raster, zonal_sums

__all__ = [
    "COLUMNS",
    "QA_MASK_BITS",
    "REFLECTANCE_OFFSET",
    "REFLECTANCE_SCALE",
    "landsat_ndvi",
    "ndvi_covariates",
    "qa_clear",
    "reflectance",
]

COLUMNS = ["ndvi_mean", "ndvi_valid_fraction"]

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
    red = reflectance(red_dn.data)
    nir = reflectance(nir_dn.data)
    total = red + nir
    valid = (
        qa_clear(qa.data)
        & ~np.ma.getmaskarray(qa)
        & ~np.ma.getmaskarray(red_dn)
        & ~np.ma.getmaskarray(nir_dn)
        & (red_dn.data != 0)
        & (nir_dn.data != 0)
        & (total > 0)
    )
    ndvi = np.full(red.shape, np.nan, dtype=np.float32)
    ndvi[valid] = np.clip((nir[valid] - red[valid]) / total[valid], -1.0, 1.0)
    return ndvi


def _ndvi_from_bands(bands: list[np.ma.MaskedArray]) -> np.ndarray:
    red_dn, nir_dn, qa = bands
    return landsat_ndvi(red_dn, nir_dn, qa)


def ndvi_covariates(
    tiles: gpd.GeoDataFrame, red_path: str | Path, nir_path: str | Path, qa_path: str | Path
) -> pd.DataFrame:
    """``ndvi_mean`` and ``ndvi_valid_fraction`` per tile (index tile_id).

    The three bands must share one grid; only the windows under the tiles are read.
    """
    with (
        open_raster(red_path, "Landsat red (SR_B4)") as red,
        open_raster(nir_path, "Landsat NIR (SR_B5)") as nir,
        open_raster(qa_path, "Landsat QA_PIXEL") as qa,
    ):
        check_same_grid({"red (SR_B4)": red, "NIR (SR_B5)": nir, "QA_PIXEL": qa})
        sums = zonal_sums(tiles.geometry, [red, nir, qa], _ndvi_from_bands, what="Landsat")
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums["sum"].to_numpy() / sums["count"].to_numpy()
    return pd.DataFrame(
        {"ndvi_mean": mean, "ndvi_valid_fraction": sums["valid_fraction"].to_numpy()},
        index=tiles.index,
    )
