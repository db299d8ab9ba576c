"""Snakemake adapter: population density and coverage for one chunk of tiles."""

from satcluster.covariates.chunks import read_tile_chunk, write_table
from satcluster.covariates.population import population_covariates
from satcluster.runlog import setup_logging, timed, user_errors_exit, warn_in_first_chunk

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    chunk = int(snakemake.wildcards.chunk)
    tiles = read_tile_chunk(snakemake.input.index, chunk, snakemake.params.n_chunks)
    # warnings about the whole raster (negative fill values): once per run
    with (
        warn_in_first_chunk(chunk),
        timed(log, f"population of {len(tiles)} tiles (chunk {chunk})"),
    ):
        table = population_covariates(tiles, snakemake.input.population)
    write_table(table, snakemake.output[0])
    log.info(
        "%d tiles with population data, median density %.0f people/km^2",
        int((table["population_coverage"] > 0).sum()),
        table["population_density_km2"].median(),
    )
