"""Snakemake adapter: draw the city's tiles coloured by cluster."""

from satcluster.figures.cluster_map import draw_cluster_map
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "cluster_map"):
    draw_cluster_map(
        snakemake.input.table,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.final_k,
        snakemake.params.palette,
        snakemake.params.dpi,
        snakemake.params.low_confidence,
    )
