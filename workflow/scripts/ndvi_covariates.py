"""Snakemake adapter: Landsat NDVI mean and valid fraction for one chunk of tiles."""

from satcluster.covariates.chunks import read_tile_chunk, write_table
from satcluster.covariates.ndvi import ndvi_covariates
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    chunk = int(snakemake.wildcards.chunk)
    tiles = read_tile_chunk(snakemake.input.index, chunk, snakemake.params.n_chunks)
    with timed(log, f"NDVI covariates of {len(tiles)} tiles (chunk {chunk})"):
        table = ndvi_covariates(tiles, snakemake.input.red, snakemake.input.nir, snakemake.input.qa)
    write_table(table, snakemake.output[0])
    log.info(
        "%d tiles with valid Landsat pixels, median NDVI %.3f",
        int((table["ndvi_valid_fraction"] > 0).sum()),
        table["ndvi_mean"].median(),
    )
