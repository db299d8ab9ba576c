"""Snakemake adapter: concatenate one source's per-chunk covariate tables."""

from satcluster.covariates.chunks import gather_tables
from satcluster.runlog import setup_logging, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    table = gather_tables(list(snakemake.input), snakemake.output[0])
    log.info("gathered %d chunks into %d rows x %d columns", len(snakemake.input), *table.shape)
