"""Snakemake adapter: draw radar charts of quantile-transformed covariate medians per cluster."""

from satcluster.figures.covariate_radar import draw_covariate_radar
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "covariate_radar"):
    draw_covariate_radar(
        snakemake.input.table,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.final_k,
        snakemake.params.palette,
        snakemake.params.dpi,
    )
