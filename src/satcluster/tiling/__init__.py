"""Tiling of imagery scenes onto one global grid in the working CRS, and the gather of scenes.

One module per concern:

* ``grid``: the working CRS and the global tile grid anchored at its origin;
* ``bands``: opening a scene, one raster file or single-band files (red, green, blue);
* ``resolution``: the pixel size a scene is tiled at (its own, snapped to a round value
  within 1% so that per-scene jobs agree, or ``tiles.resolution_m``);
* ``reader``: band choice, the stretch of uint16/float imagery and grid-aligned windowed
  reads of a scene;
* ``scene``: ``tile_scene``, streaming one scene window by window into its tiles;
* ``npy``: the hand-patched uint8 ``.npy`` headers and file-to-file byte copies;
* ``gather``: ``gather_tiles``, one tile per grid cell from all scenes.

Per scene the tiles go to ``{scene}.npy`` (uint8, N x S x S x 3) and ``{scene}.parquet``
(one row per tile, in the order of the .npy). The gather keeps one tile per grid cell (the
lowest nodata fraction; ties go to the earlier scene) and writes ``tiles.npy`` and
``index.parquet`` ordered by (row, col), ``tile_id`` being the row in ``tiles.npy``.
"""

from satcluster.tiling.bands import BAND_KEYS, SceneSource, open_scene
from satcluster.tiling.gather import INDEX_COLUMNS, gather_tiles
from satcluster.tiling.grid import TileGrid, working_crs
from satcluster.tiling.reader import (
    PERCENTILE_SAMPLE_PX,
    SUPPORTED_DTYPES,
    BandChoice,
    choose_bands,
    stretch_limits,
    to_uint8,
    uint16_limits,
)
from satcluster.tiling.resolution import choose_resolution, native_resolution, snap_resolution
from satcluster.tiling.scene import SCENE_COLUMNS, tile_scene

__all__ = [
    "BAND_KEYS",
    "INDEX_COLUMNS",
    "PERCENTILE_SAMPLE_PX",
    "SCENE_COLUMNS",
    "SUPPORTED_DTYPES",
    "BandChoice",
    "SceneSource",
    "TileGrid",
    "choose_bands",
    "choose_resolution",
    "gather_tiles",
    "native_resolution",
    "open_scene",
    "snap_resolution",
    "stretch_limits",
    "tile_scene",
    "to_uint8",
    "uint16_limits",
    "working_crs",
]
