"""Snakemake adapter: draw the share of tiles per cluster."""

from satcluster.figures.cluster_shares import draw_cluster_shares
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "cluster_shares"):
    draw_cluster_shares(
        snakemake.input.table,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.final_k,
        snakemake.params.palette,
        snakemake.params.dpi,
    )
