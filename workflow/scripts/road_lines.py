"""Snakemake adapter: parse the OSM file once into road lines (GeoParquet) for the chunk jobs."""

from satcluster.covariates.roads import load_roads
from satcluster.io import atomic_path
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    with timed(log, "loading roads"):
        # one OSM file or several extracts (a way in two of them counts once)
        roads = load_roads(list(snakemake.input.osm), snakemake.params.crs)
    log.info("%d road lines, %.0f m in all", len(roads), roads.length.sum())
    with atomic_path(snakemake.output[0]) as tmp:
        roads.to_parquet(tmp)
