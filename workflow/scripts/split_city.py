"""Snakemake adapter: one city's labels (consensus or reference seed) and embedding rows."""

from satcluster.runlog import setup_logging, timed, user_errors_exit
from satcluster.study.pooling import split_city

log = setup_logging(snakemake.log[0])
city = snakemake.wildcards.city
with user_errors_exit(log), timed(log, f"splitting out {city}"):
    n = split_city(
        city,
        snakemake.input.labels,
        snakemake.input.embedding,
        snakemake.input.index,
        snakemake.output.labels,
        snakemake.output.embedding,
    )
    log.info("%s: %d tiles", city, n)
