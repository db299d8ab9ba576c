"""Snakemake adapter: agreement (NMI, ARI) between seeds at every k."""

from satcluster.figures.seed_agreement import draw_seed_agreement
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "seed_agreement"):
    draw_seed_agreement(
        snakemake.input.table, [snakemake.output.png, snakemake.output.pdf], snakemake.params.dpi
    )
