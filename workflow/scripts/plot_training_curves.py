"""Snakemake adapter: draw the DeepCluster training curves."""

from satcluster.figures.training_curves import draw_training_curves
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "training_curves"):
    draw_training_curves(
        snakemake.input.training_log,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.dpi,
    )
