"""Snakemake adapter: each city's share of every cluster (one scale, the reference seed)."""

from satcluster.figures.city_shares import draw_city_shares
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "city_shares"):
    draw_city_shares(
        snakemake.input.table,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.final_k,
        int(snakemake.wildcards.scale),
        snakemake.params.seed,
        snakemake.params.palette,
        snakemake.params.dpi,
    )
