"""Snakemake adapter: draw the embedding's PC1/PC2 scatter coloured by cluster."""

from satcluster.figures.embedding_pca import draw_embedding_pca
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "embedding_pca"):
    draw_embedding_pca(
        snakemake.input.table,
        snakemake.input.embedding,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.final_k,
        snakemake.params.palette,
        snakemake.params.dpi,
    )
