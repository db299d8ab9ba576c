"""Snakemake adapter: building covariates of one chunk of tiles."""

from satcluster.covariates.buildings import chunk_building_covariates
from satcluster.covariates.chunks import read_tile_chunk, write_table
from satcluster.covariates.vectors.io import geoparquet_bounds
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    chunk = int(snakemake.wildcards.chunk)
    tiles = read_tile_chunk(snakemake.input.index, chunk, snakemake.params.n_chunks)
    log.info("chunk %d: %d tiles", chunk, len(tiles))
    with timed(log, "building covariates"):
        table = chunk_building_covariates(
            tiles,
            list(snakemake.input.buildings),  # one file or several (duplicates counted once)
            snakemake.params.crs,
            snakemake.params.min_confidence,
            city_bounds=geoparquet_bounds(snakemake.input.index),
            chunk=chunk,  # source-wide warnings in chunk 0 only: once per run
        )
    log.info(
        "%d buildings counted, %d of %d tiles have at least one",
        table["building_count"].sum(),
        (table["building_count"] > 0).sum(),
        len(table),
    )
    write_table(table, snakemake.output[0])
