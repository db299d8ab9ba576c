"""Writing small GeoTIFFs for the tiling tests: any bands, layout, mask or colour interpretation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine


def write_geotiff(
    path: Path, data: np.ndarray, transform: Affine, crs: str | None, **profile
) -> Path:
    """Write a (bands, rows, cols) array as a GeoTIFF.

    ``profile`` takes GTiff creation options (``blockysize``, ``tiled``, ``compress``,
    ``nodata``, ...) and two extras: ``colorinterp`` (a list of ColorInterp) and ``mask``
    (a (rows, cols) uint8 array written as an internal mask).
    """
    colorinterp = profile.pop("colorinterp", None)
    mask = profile.pop("mask", None)
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(
            path,
            "w",
            driver="GTiff",
            count=data.shape[0],
            height=data.shape[1],
            width=data.shape[2],
            dtype=data.dtype,
            crs=crs,
            transform=transform,
            **profile,
        ) as dst,
    ):
        dst.write(data)
        if colorinterp is not None:
            dst.colorinterp = colorinterp
        if mask is not None:
            dst.write_mask(mask)
    return path
