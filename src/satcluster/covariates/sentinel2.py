"""Mean NDVI per tile from Sentinel-2 Level-2A B04 (red), B08 (NIR) and SCL bands.

Reflectance is ``(DN + BOA_ADD_OFFSET) / BOA_QUANTIFICATION_VALUE``. Since processing
baseline 04.00 (products from 2022-01-25 on) L2A digital numbers carry an offset of
+1000, i.e. ``BOA_ADD_OFFSET = -1000``; ignoring it lowers NDVI (0.45 instead of 0.71
for red DN 1500, NIR DN 4000). The offset and quantification are read from the
product's MTD_MSIL2A.xml, looked for beside each band and in the folders above it up
to the ``.SAFE`` root (a metadata file of another tile or date is skipped). Without
it the ``boa_add_offset`` argument (config) is used, and without that -1000, with a
warning that it was not verified (older products have no offset). A Level-1C
metadata file (MTD_MSIL1C.xml) stops the run: L1C is top-of-atmosphere reflectance.

The 20 m scene classification (SCL) is put on the 10 m grid of B04 by nearest
neighbour (each 20 m class covers its 2 x 2 10 m pixels) and pixels are masked where
it is 0 no data, 1 saturated or defective, 3 cloud shadow, 8 and 9 cloud (medium and
high probability), 10 thin cirrus or 11 snow/ice: their DNs are not the ground's
reflectance. Kept are 4 vegetation, 5 not vegetated, 6 water (a real surface, whose
low NDVI the cluster names rely on), 7 unclassified (often mixed urban pixels) and
2 dark area pixels: dark roofs, asphalt and terrain shadow, which Sen2Cor flags by
darkness alone; masking them would hollow out exactly the dense built-up tiles.
Pixels with DN 0 (no data) in B04 or B08 are masked too, and the ratio and
clipping are ndvi.py's (``normalized_difference``), as is the per-tile zonal mean
(``ndvi_table``): the columns are those of the Landsat path, and
``ndvi.ndvi_source(table)`` is "sentinel2".
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from satcluster.covariates.ndvi import (
    NDVI_SOURCE_ATTR,
    ndvi_table,
    normalized_difference,
    valid_pixels,
)
from satcluster.covariates.zonal import check_same_grid, open_raster
from satcluster.errors import InputError

__all__ = [
    "BOA_QUANTIFICATION",
    "DEFAULT_BOA_ADD_OFFSET",
    "SCL_KEPT",
    "SCL_MASKED",
    "BandScaling",
    "band_scaling",
    "find_product_metadata",
    "read_product_metadata",
    "scl_clear",
    "sentinel2_ndvi",
    "sentinel2_ndvi_covariates",
    "sentinel2_reflectance",
]

log = logging.getLogger(__name__)

DEFAULT_BOA_ADD_OFFSET = -1000.0  # processing baseline 04.00 and later
BOA_QUANTIFICATION = 10000.0
SCL_MASKED = {
    0: "no data",
    1: "saturated or defective",
    3: "cloud shadow",
    8: "cloud, medium probability",
    9: "cloud, high probability",
    10: "thin cirrus",
    11: "snow or ice",
}
SCL_KEPT = {
    2: "dark area pixels",
    4: "vegetation",
    5: "not vegetated",
    6: "water",
    7: "unclassified",
}
# BOA_ADD_OFFSET band_id of each band when the metadata has no Spectral_Information.
_BAND_IDS = {"B04": "3", "B08": "7"}
# How far above a band's folder to look when it is not inside a .SAFE folder: a SAFE
# band lies in GRANULE/<granule>/IMG_DATA/R10m, four levels below MTD_MSIL2A.xml.
_MAX_LEVELS_UP = 4
_BAND_TOKEN = re.compile(r"(?<![A-Z0-9])(B\d{2}|B8A|SCL|TCI|AOT|WVP)(?![A-Z0-9])", re.IGNORECASE)
_TILE_TIME = re.compile(r"(?<![A-Z0-9])(T\d{2}[A-Z]{3})_(\d{8}T\d{6})", re.IGNORECASE)


@dataclass(frozen=True)
class BandScaling:
    """``reflectance = (DN + offset) / quantification``; ``source`` says where it was read."""

    offset: float
    quantification: float
    source: str


def find_product_metadata(band_path: str | Path) -> Path | None:
    """MTD_MSIL2A.xml of the product a band file belongs to, or None.

    Looks in the band's folder and upwards to the enclosing ``.SAFE`` folder (or four
    levels up outside one); metadata whose PRODUCT_URI names another tile or sensing
    time than the band's file name is skipped. InputError on an MTD_MSIL1C.xml.
    """
    folder = Path(band_path).resolve().parent
    in_safe = any(p.name.upper().endswith(".SAFE") for p in (folder, *folder.parents))
    for level, candidate in enumerate((folder, *folder.parents)):
        if not in_safe and level > _MAX_LEVELS_UP:
            break
        l1c = candidate / "MTD_MSIL1C.xml"
        if l1c.is_file():
            raise InputError(
                f"Sentinel-2 band {band_path} belongs to a Level-1C product ({l1c}: "
                "top-of-atmosphere reflectance); NDVI needs Level-2A (MSIL2A) B04, B08 and SCL, "
                "e.g. from the Copernicus Data Space Browser, product type L2A."
            )
        mtd = candidate / "MTD_MSIL2A.xml"
        if mtd.is_file() and _same_product(band_path, mtd):
            return mtd
        if candidate.name.upper().endswith(".SAFE"):
            break
    return None


def _same_product(band_path: str | Path, mtd: Path) -> bool:
    """False when the band's name and the metadata's PRODUCT_URI give another tile or time."""
    named = _TILE_TIME.search(Path(band_path).name)
    if named is None:
        return True
    uri = read_product_metadata(mtd).get("PRODUCT_URI", "").upper()
    if not uri or (named[1].upper() in uri and named[2].upper() in uri):
        return True
    log.warning("%s is the metadata of %s, not of %s; it is not used", mtd, uri, band_path)
    return False


def read_product_metadata(mtd: str | Path) -> dict[str, str]:
    """Fields of MTD_MSIL2A.xml: PROCESSING_BASELINE, PRODUCT_URI, BOA_QUANTIFICATION_VALUE,
    and ``BOA_ADD_OFFSET/<physical band>`` (e.g. ``BOA_ADD_OFFSET/B4``) and
    ``BOA_ADD_OFFSET/<band_id>`` for each offset given. Unreadable XML is an InputError."""
    try:
        root = ET.parse(mtd).getroot()
    except (OSError, ET.ParseError) as err:
        raise InputError(
            f"Sentinel-2 metadata {mtd} cannot be read ({err}); re-extract the product, or "
            "remove the file and set `inputs.sentinel2.boa_add_offset`."
        ) from None
    fields: dict[str, str] = {}
    physical: dict[str, str] = {}
    offsets: dict[str, str] = {}
    for element in root.iter():
        tag = str(element.tag).rpartition("}")[2]
        text = (element.text or "").strip()
        if tag == "Spectral_Information" and "bandId" in element.attrib:
            physical[element.attrib["bandId"]] = element.attrib.get("physicalBand", "")
        elif tag == "BOA_ADD_OFFSET" and "band_id" in element.attrib:
            offsets[element.attrib["band_id"]] = text
        elif tag in ("PROCESSING_BASELINE", "PRODUCT_URI", "BOA_QUANTIFICATION_VALUE"):
            fields.setdefault(tag, text)
    for band_id, value in offsets.items():
        fields[f"BOA_ADD_OFFSET/{band_id}"] = value
        if physical.get(band_id):
            fields[f"BOA_ADD_OFFSET/{physical[band_id].upper()}"] = value
    return fields


def _metadata_offset(fields: dict[str, str], band: str) -> float | None:
    """The band's BOA_ADD_OFFSET, 0 for a pre-04.00 product without offsets, else None."""
    physical = "B" + band[1:].lstrip("0")  # B04 -> B4, B08 -> B8
    value = fields.get(f"BOA_ADD_OFFSET/{physical}") or fields.get(
        f"BOA_ADD_OFFSET/{_BAND_IDS[band]}"
    )
    if value:
        return float(value)
    try:
        baseline = float(fields.get("PROCESSING_BASELINE", ""))
    except ValueError:
        return None
    return 0.0 if baseline < 4 else None


def band_scaling(path: str | Path, band: str, boa_add_offset: float | None = None) -> BandScaling:
    """Offset and quantification of band ``band`` ("B04" or "B08") of the file ``path``.

    The product metadata wins over ``boa_add_offset`` (a warning says when they differ);
    without metadata ``boa_add_offset`` is used, and without it -1000 (the caller warns).
    """
    mtd = find_product_metadata(path)
    fields = read_product_metadata(mtd) if mtd is not None else {}
    offset = _metadata_offset(fields, band) if mtd is not None else None
    if offset is None:
        if boa_add_offset is not None:
            return BandScaling(float(boa_add_offset), BOA_QUANTIFICATION, "config")
        return BandScaling(DEFAULT_BOA_ADD_OFFSET, BOA_QUANTIFICATION, "default")
    if boa_add_offset is not None and float(boa_add_offset) != offset:
        log.warning(
            "Sentinel-2 %s: the configured boa_add_offset %g is not the product's %g (%s); "
            "the product's is used",
            path,
            float(boa_add_offset),
            offset,
            mtd,
        )
    quantification = float(fields.get("BOA_QUANTIFICATION_VALUE") or BOA_QUANTIFICATION)
    return BandScaling(offset, quantification, str(mtd))


def sentinel2_reflectance(dn: np.ndarray, scaling: BandScaling) -> np.ndarray:
    """Bottom-of-atmosphere reflectance (float32) from L2A digital numbers."""
    offset, quantification = np.float32(scaling.offset), np.float32(scaling.quantification)
    return (np.asarray(dn).astype(np.float32) + offset) / quantification


def scl_clear(scl: np.ndarray) -> np.ndarray:
    """True where the scene class is one of SCL_KEPT (see the module docstring for why)."""
    return np.isin(np.asarray(scl), list(SCL_KEPT))


def sentinel2_ndvi(
    red_dn: np.ma.MaskedArray,
    nir_dn: np.ma.MaskedArray,
    scl: np.ma.MaskedArray,
    red_scaling: BandScaling,
    nir_scaling: BandScaling,
) -> np.ndarray:
    """NDVI (float32) from B04/B08 digital numbers and SCL on one grid, NaN where masked."""
    red_dn, nir_dn, scl = (np.ma.asarray(band) for band in (red_dn, nir_dn, scl))
    valid = valid_pixels(scl_clear(scl.data), scl, red_dn, nir_dn)
    red = sentinel2_reflectance(red_dn.data, red_scaling)
    nir = sentinel2_reflectance(nir_dn.data, nir_scaling)
    return normalized_difference(red, nir, valid)


def _check_band_name(path: str | Path, role: str, expected: str) -> None:
    """InputError when the file name names another band than ``expected``."""
    tokens = {t.upper() for t in _BAND_TOKEN.findall(Path(path).name)}
    if tokens and expected not in tokens:
        raise InputError(
            f"Sentinel-2 {role} file {path} is band {', '.join(sorted(tokens))}, not "
            f"{expected}; set `inputs.sentinel2.{role}` to the L2A {expected} file."
        )


def _warn_unverified(scalings: dict[str, BandScaling], paths: dict[str, str | Path]) -> None:
    unverified = [paths[band] for band, s in scalings.items() if s.source == "default"]
    if unverified:
        log.warning(
            "no MTD_MSIL2A.xml found beside or above %s, so BOA_ADD_OFFSET is not verified; "
            "using %g (processing baseline 04.00 and later, products from 2022-01-25 on). "
            "Keep the product's metadata with the bands, or set "
            "`inputs.sentinel2.boa_add_offset` (0 for older products)",
            ", ".join(str(p) for p in unverified),
            DEFAULT_BOA_ADD_OFFSET,
        )


def sentinel2_ndvi_covariates(
    tiles: gpd.GeoDataFrame,
    red_path: str | Path,
    nir_path: str | Path,
    scl_path: str | Path,
    boa_add_offset: float | None = None,
) -> pd.DataFrame:
    """``ndvi_mean`` and ``ndvi_valid_fraction`` per tile (index tile_id) from Sentinel-2 L2A.

    B04 and B08 must share one 10 m grid; SCL (20 m) must be in their CRS and is
    resampled onto it by nearest neighbour. ``boa_add_offset`` is used only where no
    product metadata is found. ``table.attrs["ndvi_source"]`` is "sentinel2".
    """
    for path, role, band in ((red_path, "red", "B04"), (nir_path, "nir", "B08")):
        _check_band_name(path, role, band)
    _check_band_name(scl_path, "scl", "SCL")
    with (
        open_raster(red_path, "Sentinel-2 red (B04)") as red,
        open_raster(nir_path, "Sentinel-2 NIR (B08)") as nir,
        open_raster(scl_path, "Sentinel-2 scene classification (SCL)") as scl,
    ):
        check_same_grid({"red (B04)": red, "NIR (B08)": nir})
        if scl.crs != red.crs:
            raise InputError(
                f"Sentinel-2 SCL raster {scl_path} is in {scl.crs}, not in the CRS of the red "
                f"band {red_path} ({red.crs}); use the SCL of the same L2A product."
            )
        scalings = {
            "B04": band_scaling(red_path, "B04", boa_add_offset),
            "B08": band_scaling(nir_path, "B08", boa_add_offset),
        }
        _warn_unverified(scalings, {"B04": red_path, "B08": nir_path})

        def values(bands: list[np.ma.MaskedArray]) -> np.ndarray:
            red_dn, nir_dn, classes = bands
            return sentinel2_ndvi(red_dn, nir_dn, classes, scalings["B04"], scalings["B08"])

        # Nearest neighbour onto the 10 m grid; outside the SCL reads as class 0 (no data).
        with WarpedVRT(
            scl,
            crs=red.crs,
            transform=red.transform,
            width=red.width,
            height=red.height,
            resampling=Resampling.nearest,
            nodata=0,
        ) as scl_10m:
            table = ndvi_table(tiles, [red, nir, scl_10m], values, what="Sentinel-2")
    table.attrs[NDVI_SOURCE_ATTR] = "sentinel2"
    return table
