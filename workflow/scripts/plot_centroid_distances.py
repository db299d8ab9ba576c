"""Snakemake adapter: draw centroid distances and mean within-cluster distance."""

from satcluster.figures.centroid_distances import draw_centroid_distances
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "centroid_distances"):
    draw_centroid_distances(
        snakemake.input.table,
        snakemake.input.embedding,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.final_k,
        snakemake.params.palette,
        snakemake.params.dpi,
    )
