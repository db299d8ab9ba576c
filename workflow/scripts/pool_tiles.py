"""Snakemake adapter: the tiles of every city of a study, pooled for one model per scale."""

from satcluster.runlog import setup_logging, timed, user_errors_exit
from satcluster.study.pooling import pool_tiles

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "pooling tiles"):
    pool_tiles(
        snakemake.params.cities,
        snakemake.input.tiles,
        snakemake.output.tiles,
        snakemake.output.index,
    )
