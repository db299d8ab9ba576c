"""Snakemake adapter: draw a grid of example tiles per cluster."""

from satcluster.figures.example_tiles import draw_example_tiles
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "example_tiles"):
    draw_example_tiles(
        snakemake.input.table,
        snakemake.input.tiles,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.final_k,
        snakemake.params.per_cluster,
        snakemake.params.palette,
        snakemake.params.dpi,
    )
