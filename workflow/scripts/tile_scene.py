"""Snakemake adapter: tile one imagery scene onto the global tile grid."""

from satcluster.runlog import setup_logging, timed, user_errors_exit
from satcluster.tiling import tile_scene

log = setup_logging(snakemake.log[0])
scene = snakemake.wildcards.scene
# a GeoTIFF, or one scene as single-band files (config `inputs.imagery` {red, green, blue})
bands = ("red", "green", "blue")
inputs = dict(snakemake.input.items())
source = inputs["scene"] if "scene" in inputs else {band: inputs[band] for band in bands}
with user_errors_exit(log), timed(log, f"tiling scene {scene}"):
    tile_scene(
        source,
        scene,
        snakemake.output.npy,
        snakemake.output.index,
        crs=snakemake.params.crs,
        size_px=snakemake.params.size_px,
        resolution_m=snakemake.params.resolution_m,
        max_nodata_fraction=snakemake.params.max_nodata_fraction,
        uint16_percentiles=snakemake.params.uint16_percentiles,
        window_rows=snakemake.params.window_rows,
    )
