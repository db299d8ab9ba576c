"""Snakemake adapter: one city's rows of the consensus tile confidence."""

from satcluster.pooling import split_city_table
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
city = snakemake.wildcards.city
with user_errors_exit(log), timed(log, f"splitting out {city}'s confidence"):
    n = split_city_table(
        city, snakemake.input.confidence, snakemake.input.index, snakemake.output.confidence
    )
    log.info("%s: %d tiles", city, n)
