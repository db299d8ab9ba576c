"""Snakemake adapter: draw box plots of every covariate per cluster."""

from satcluster.figures.covariate_distributions import draw_covariate_distributions
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "covariate_distributions"):
    draw_covariate_distributions(
        snakemake.input.table,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.final_k,
        snakemake.params.palette,
        snakemake.params.dpi,
    )
