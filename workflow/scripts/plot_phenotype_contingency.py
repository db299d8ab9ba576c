"""Snakemake adapter: draw clusters against the demo city's planted phenotypes."""

from satcluster.figures.phenotype_contingency import draw_phenotype_contingency
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "phenotype_contingency"):
    draw_phenotype_contingency(
        snakemake.input.table,
        snakemake.input.truth,
        [snakemake.output.png, snakemake.output.pdf],
        snakemake.params.final_k,
        snakemake.params.palette,
        snakemake.params.dpi,
    )
