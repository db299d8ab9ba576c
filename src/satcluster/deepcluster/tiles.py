"""Tile sources: the tiles .npy as a memory map, or a folder of image tiles converted into one.

No torch here: settings.py checks the tiles with ``open_tiles`` and the rule
file imports settings.py.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from satcluster.errors import InputError
from satcluster.io import atomic_path

__all__ = ["IMAGE_SUFFIXES", "folder_to_tiles", "image_files", "open_tiles", "read_image"]

# PIL, rasterio and tqdm are imported where folders of images are read: the training path
# needs only numpy and torch (benchmarks/gpu/gpu.sh runs on bare GPU machines).

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def open_tiles(path: str | Path) -> np.ndarray:
    """Memory-map a uint8 ``N x H x W x 3`` tiles .npy, or raise InputError naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"tiles file not found: {path}. Give a tiles .npy or a folder of tiles.")
    try:
        tiles = np.load(path, mmap_mode="r")
    except ValueError as err:
        raise InputError(f"{path} is not a readable .npy array ({err}).") from None
    if tiles.dtype != np.uint8 or tiles.ndim != 4 or tiles.shape[-1] != 3:
        raise InputError(
            f"{path} holds a {tiles.dtype} array of shape {tiles.shape}; expected uint8 "
            "N x H x W x 3 tiles (as written by the tiles stage)."
        )
    if len(tiles) == 0:
        raise InputError(f"{path} holds no tiles; check the tiling step (nodata filter?).")
    return tiles


def image_files(folder: str | Path) -> list[Path]:
    """Image tiles under ``folder`` (recursive, .tif/.tiff/.png/.jpg/.jpeg), in sorted order."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path) -> np.ndarray:
    """One tile as uint8 H x W x 3 (GeoTIFFs through rasterio, other formats through PIL)."""
    from PIL import Image

    if path.suffix.lower() in (".tif", ".tiff"):
        import rasterio

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # plain TIFFs are "not georeferenced": irrelevant here
            with rasterio.open(path) as src:
                bands = src.read()
        if bands.dtype != np.uint8:
            raise InputError(
                f"{path} is {bands.dtype}; tiles must be 8-bit. Convert them, or tile the "
                "imagery with the workflow's tiles stage (it rescales uint16)."
            )
        if bands.shape[0] == 2:
            raise InputError(f"{path} has 2 bands; expected 1 (grey) or at least 3 (RGB).")
        image = np.repeat(bands, 3, axis=0) if bands.shape[0] == 1 else bands[:3]
        return np.ascontiguousarray(image.transpose(1, 2, 0))
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def folder_to_tiles(folder: str | Path, dest: str | Path) -> Path:
    """Convert a folder of image tiles into a tiles .npy at ``dest`` (reused if up to date).

    Tiles are numbered in sorted path order (``dest`` .csv lists tile_id, path).
    Tiles whose size differs from the first one's are resized to it.
    """
    from PIL import Image
    from tqdm import tqdm

    folder, dest = Path(folder), Path(dest)
    files = image_files(folder)
    if not files:
        raise InputError(
            f"no image tiles (.tif, .png, .jpg) found under {folder}; give a folder of tiles "
            "or a tiles .npy."
        )
    listing = dest.with_suffix(".csv")
    lines = ["tile_id,path"] + [f"{i},{p.relative_to(folder)}" for i, p in enumerate(files)]
    text = "\n".join(lines) + "\n"
    newest = max(p.stat().st_mtime for p in files)
    if (
        dest.is_file()
        and listing.is_file()
        and listing.read_text() == text
        and dest.stat().st_mtime >= newest
    ):
        log.info("reusing %s (%d tiles from %s)", dest, len(files), folder)
        return dest
    first = read_image(files[0])
    height, width = first.shape[:2]
    resized = 0
    with atomic_path(dest) as tmp:
        out = np.lib.format.open_memmap(tmp, "w+", np.uint8, (len(files), height, width, 3))
        for i, path in enumerate(tqdm(files, desc="reading tiles", mininterval=5)):
            image = first if i == 0 else read_image(path)
            if image.shape[:2] != (height, width):
                image = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
                resized += 1
            out[i] = image
        out.flush()
        del out
    with atomic_path(listing) as tmp:
        tmp.write_text(text)
    if resized:
        log.warning(
            "%d tiles were resized to %d x %d px (the first tile's size)", resized, height, width
        )
    log.info("wrote %s: %d tiles of %d x %d px from %s", dest, len(files), height, width, folder)
    return dest
