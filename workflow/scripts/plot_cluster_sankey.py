"""Snakemake adapter: draw the Sankey diagram of cluster membership across k."""

from satcluster.figures.cluster_sankey import draw_cluster_sankey
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "cluster_sankey"):
    draw_cluster_sankey(
        snakemake.input.table,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.ks,
        snakemake.params.final_k,
        snakemake.params.palette,
        snakemake.params.dpi,
    )
