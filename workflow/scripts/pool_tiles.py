"""Snakemake adapter: the tiles of every city of a study, pooled for one model per scale."""

from satcluster.pooling import pool_tiles
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "pooling tiles"):
    pool_tiles(
        snakemake.params.cities,
        snakemake.input.tiles,
        snakemake.output.tiles,
        snakemake.output.index,
    )
