"""Snakemake adapter: one city's rows of the consensus tile confidence."""

from satcluster.runlog import setup_logging, timed, user_errors_exit
from satcluster.study.pooling import split_city_table

log = setup_logging(snakemake.log[0])
city = snakemake.wildcards.city
with user_errors_exit(log), timed(log, f"splitting out {city}'s confidence"):
    n = split_city_table(
        city, snakemake.input.confidence, snakemake.input.index, snakemake.output.confidence
    )
    log.info("%s: %d tiles", city, n)
