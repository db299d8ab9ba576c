"""Snakemake adapter: draw each consensus cluster's mean tile confidence and low share."""

from satcluster.figures.cluster_confidence import draw_cluster_confidence
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "cluster_confidence"):
    draw_cluster_confidence(
        snakemake.input.table,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.final_k,
        snakemake.params.palette,
        snakemake.params.dpi,
        snakemake.params.low_confidence,
    )
