"""Tiling of imagery scenes onto one global grid in the working CRS, and the gather of scenes.

One module per concern:

* ``grid``: the working CRS and the global tile grid anchored at its origin;
* ``reader``: band choice, the uint16 stretch and grid-aligned windowed reads of a scene;
* ``scene``: ``tile_scene``, streaming one scene window by window into its tiles;
* ``npy``: the hand-patched uint8 ``.npy`` headers and file-to-file byte copies;
* ``gather``: ``gather_tiles``, one tile per grid cell from all scenes.

Per scene the tiles go to ``{scene}.npy`` (uint8, N x S x S x 3) and ``{scene}.parquet``
(one row per tile, in the order of the .npy). The gather keeps one tile per grid cell (the
lowest nodata fraction; ties go to the earlier scene) and writes ``tiles.npy`` and
``index.parquet`` ordered by (row, col), ``tile_id`` being the row in ``tiles.npy``.
"""

from satcluster.tiling.gather import INDEX_COLUMNS, gather_tiles
from satcluster.tiling.grid import TileGrid, working_crs
from satcluster.tiling.reader import (
    PERCENTILE_SAMPLE_PX,
    BandChoice,
    choose_bands,
    native_resolution,
    to_uint8,
    uint16_limits,
)
from satcluster.tiling.scene import SCENE_COLUMNS, tile_scene

__all__ = [
    "INDEX_COLUMNS",
    "PERCENTILE_SAMPLE_PX",
    "SCENE_COLUMNS",
    "BandChoice",
    "TileGrid",
    "choose_bands",
    "gather_tiles",
    "native_resolution",
    "tile_scene",
    "to_uint8",
    "uint16_limits",
    "working_crs",
]
