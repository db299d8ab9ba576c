"""Snakemake adapter: the pooled labels of one model with each tile's city and tile_id."""

from satcluster.io import atomic_path
from satcluster.runlog import setup_logging, timed, user_errors_exit
from satcluster.study.pooling import city_labels

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "labelling cities"):
    table = city_labels(snakemake.input.labels, snakemake.input.index)
    with atomic_path(snakemake.output.labels) as tmp:
        table.to_parquet(tmp, index=False)
    log.info("%d tiles of %d cities", len(table), table["city"].nunique())
