"""Snakemake adapter: road covariates of one chunk of tiles.

All road lines are read (from the GeoParquet that rule road_lines parsed once): distances to
the nearest road may reach beyond the chunk."""

from satcluster.covariates.chunks import read_tile_chunk, write_table
from satcluster.covariates.roads import chunk_road_covariates, read_road_lines
from satcluster.covariates.vectors.io import geoparquet_bounds
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    chunk = int(snakemake.wildcards.chunk)
    tiles = read_tile_chunk(snakemake.input.index, chunk, snakemake.params.n_chunks)
    log.info("chunk %d: %d tiles", chunk, len(tiles))
    with timed(log, "loading roads"):
        roads = read_road_lines(snakemake.input.roads, snakemake.params.crs)
    with timed(log, "road covariates"):
        table = chunk_road_covariates(
            tiles,
            roads,
            snakemake.params.major_classes,
            city_bounds=geoparquet_bounds(snakemake.input.index),
            chunk=chunk,  # source-wide warnings in chunk 0 only: once per run
        )
    log.info(
        "%.0f m of roads (%.0f m major) in %d tiles",
        table["road_length_m"].sum(),
        table["major_road_length_m"].sum(),
        len(table),
    )
    write_table(table, snakemake.output[0])
