"""Snakemake adapter: gather the per-scene tiles into tiles.npy and index.parquet."""

from satcluster.runlog import setup_logging, timed, user_errors_exit
from satcluster.tiling import gather_tiles

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "gathering tiles"):
    gather_tiles(
        snakemake.params.scenes,
        snakemake.input.npy,
        snakemake.input.index,
        snakemake.output.tiles,
        snakemake.output.index,
    )
