"""Snakemake adapter: NDVI mean and valid fraction for one chunk of tiles (Landsat or Sentinel-2)."""

from satcluster.covariates.chunks import read_tile_chunk, write_table
from satcluster.covariates.ndvi import ndvi_covariates, ndvi_source
from satcluster.covariates.sentinel2 import sentinel2_ndvi_covariates
from satcluster.runlog import setup_logging, timed, user_errors_exit, warn_in_first_chunk

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    chunk = int(snakemake.wildcards.chunk)
    tiles = read_tile_chunk(snakemake.input.index, chunk, snakemake.params.n_chunks)
    # warnings about the whole product (an unverifiable Landsat level): once per run
    with warn_in_first_chunk(chunk), timed(log, f"NDVI of {len(tiles)} tiles (chunk {chunk})"):
        bands = snakemake.input
        # the product the rule chose the band files of
        if snakemake.params.product == "sentinel2":  # L2A: red B04, nir B08, scene classes SCL
            table = sentinel2_ndvi_covariates(
                tiles, bands.red, bands.nir, bands.scl, snakemake.params.boa_add_offset
            )
        else:  # Landsat 8/9 Collection 2 Level-2
            table = ndvi_covariates(tiles, bands.red, bands.nir, bands.qa)
    write_table(table, snakemake.output[0])
    log.info(
        "%d tiles with valid %s pixels, median NDVI %.3f",
        int((table["ndvi_valid_fraction"] > 0).sum()),
        ndvi_source(table),
        table["ndvi_mean"].median(),
    )
