"""Opening a scene: one raster file, or single-band files on one grid (one per colour).

WorldView and SpaceNet deliveries ship each band as its own file; such a scene is given as
a mapping ``{"red": path, "green": path, "blue": path}`` (an extra ``"nir"`` file is
accepted and ignored: tiles are RGB). The files must share CRS, transform, size and data
type, and each must hold one band. They are combined into an in-memory VRT (3 bands, red,
green and blue colour interpretation), so every later step reads one dataset: windowed and
warped reads, masks and overviews go through GDAL exactly as for a 3-band file.

Masks of band files: a nodata value declared on any file applies to all three bands (they
were cut from one product; files that declare different values are refused); without one,
the internal or external mask of the first file that has one is the scene's mask.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape

import rasterio
from affine import Affine
from rasterio.dtypes import dtype_rev, typename_fwd
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioError

from satcluster.crs import describe_error, open_georeferenced
from satcluster.errors import InputError

__all__ = ["BAND_KEYS", "IGNORED_BAND_KEYS", "SceneSource", "describe_scene", "open_scene"]


BAND_KEYS = ("red", "green", "blue")  # in this order: the R, G, B channels of the tiles
IGNORED_BAND_KEYS = ("nir",)  # accepted beside them, read by nothing (tiles are RGB)
_KEY = "inputs.imagery"
_GRID_TOLERANCE_PX = 1e-6  # transforms of band files may differ by this fraction of a pixel

SceneSource = str | Path | Mapping[str, str | Path]


def describe_scene(scene: SceneSource) -> str:
    """The scene's file, or its band files as ``red=..., green=..., blue=...``, for messages."""
    if isinstance(scene, Mapping):
        return ", ".join(f"{key}={path}" for key, path in scene.items())
    return str(scene)


def open_scene(scene: SceneSource) -> rasterio.DatasetReader:
    """Open a scene file, or combine a mapping of band files into one 3-band dataset.

    A missing, unreadable or CRS-less file, a mapping without red, green and blue, and band
    files that are not single-band or not on one grid are InputErrors naming the files.
    """
    if not isinstance(scene, Mapping):
        return _open_file(scene)
    keys = set(scene)
    if not set(BAND_KEYS) <= keys or not keys <= set(BAND_KEYS + IGNORED_BAND_KEYS):
        raise InputError(
            f"`{_KEY}` entry {{{describe_scene(scene)}}}: band files are given as "
            "{red: path, green: path, blue: path} (optionally nir: path); fix its keys."
        )
    # The files are closed once checked: the VRT opens its sources itself, by path.
    with contextlib.ExitStack() as stack:
        files = {key: stack.enter_context(_open_file(scene[key])) for key in BAND_KEYS}
        _check_band_files(files)
        xml = _band_vrt(files)
    try:
        return rasterio.open(xml)
    except RasterioError as err:
        raise InputError(
            f"imagery band files {describe_scene(scene)} cannot be read together "
            f"({describe_error(err)}); check that each is a readable GeoTIFF."
        ) from None


def _open_file(path: str | Path) -> rasterio.DatasetReader:
    """Open one scene or band file; a missing, unreadable or CRS-less file is an InputError."""
    return open_georeferenced(path, "imagery scene", key=_KEY, example_crs="EPSG:32630")


def _same_grid(a: Affine, b: Affine) -> bool:
    """Whether two pixel grids agree within ``_GRID_TOLERANCE_PX`` of a pixel."""
    pixel = max(abs(a.a), abs(a.e), abs(a.b), abs(a.d))
    return all(abs(u - v) <= _GRID_TOLERANCE_PX * pixel for u, v in zip(a[:6], b[:6], strict=True))


def _check_band_files(files: Mapping[str, rasterio.DatasetReader]) -> None:
    """Single-band files sharing CRS, transform, size, data type and nodata; else InputError."""
    listed = ", ".join(f"{key}={ds.name}" for key, ds in files.items())
    several = [f"{key}={ds.name} ({ds.count} bands)" for key, ds in files.items() if ds.count != 1]
    if several:
        raise InputError(
            f"imagery band files must hold one band each: {', '.join(several)}; give one "
            "single-band file per colour, or the multi-band file itself as the scene."
        )
    first = next(iter(files.values()))
    checks = {
        "CRS": lambda ds: ds.crs == first.crs,
        "size": lambda ds: (ds.width, ds.height) == (first.width, first.height),
        "transform": lambda ds: _same_grid(ds.transform, first.transform),
        "data type": lambda ds: ds.dtypes[0] == first.dtypes[0],
    }
    for what, same in checks.items():
        if not all(same(ds) for ds in files.values()):
            raise InputError(
                f"imagery band files {listed} differ in {what}; the band files of one scene "
                "must lie on one pixel grid (same CRS, transform and size) with one data type "
                "(re-export them together, e.g. with `gdalbuildvrt -separate`)."
            )
    nodatas = {ds.nodata for ds in files.values() if ds.nodata is not None}
    if len({repr(v) for v in nodatas}) > 1:
        values = ", ".join(
            f"{key}={ds.nodata:g}" for key, ds in files.items() if ds.nodata is not None
        )
        raise InputError(
            f"imagery band files {listed} declare different nodata values ({values}); set one "
            "value on all of them (e.g. `gdal_edit.py -a_nodata 0 FILE`)."
        )


def _number(value: float) -> str:
    """A nodata value as GDAL parses it: ``nan``, ``inf``, ``-inf`` or the shortest exact repr."""
    return repr(float(value))


def _band_vrt(files: Mapping[str, rasterio.DatasetReader]) -> str:
    """VRT XML of the red, green and blue band files as bands 1, 2 and 3 of one dataset."""
    first = files[BAND_KEYS[0]]
    dtype = typename_fwd[dtype_rev[first.dtypes[0]]]  # e.g. "Byte", "Float32"
    nodata = next((ds.nodata for ds in files.values() if ds.nodata is not None), None)
    masked = next(
        (ds for ds in files.values() if MaskFlags.per_dataset in ds.mask_flag_enums[0]), None
    )
    t = first.transform
    parts = [
        f'<VRTDataset rasterXSize="{first.width}" rasterYSize="{first.height}">',
        f"<SRS>{escape(first.crs.to_wkt())}</SRS>",
        f"<GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>",
    ]
    for band, key in enumerate(BAND_KEYS, 1):
        parts += [
            f'<VRTRasterBand dataType="{dtype}" band="{band}">',
            f"<ColorInterp>{key.capitalize()}</ColorInterp>",
            f"<NoDataValue>{_number(nodata)}</NoDataValue>" if nodata is not None else "",
            _source(files[key].name, "1"),
            "</VRTRasterBand>",
        ]
    if nodata is None and masked is not None:
        # A per-dataset mask, so that GDAL's masks and the warper honour it as for one file.
        parts += [
            '<MaskBand><VRTRasterBand dataType="Byte">',
            _source(masked.name, "mask,1"),
            "</VRTRasterBand></MaskBand>",
        ]
    parts.append("</VRTDataset>")
    return "".join(parts)


def _source(path: str, band: str) -> str:
    """A VRT SimpleSource reading ``band`` of ``path`` pixel for pixel."""
    return (
        f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(Path(path).resolve()))}'
        f"</SourceFilename><SourceBand>{band}</SourceBand></SimpleSource>"
    )
