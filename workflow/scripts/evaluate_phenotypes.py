"""Snakemake adapter: NMI/ARI of the clusters and two baselines against the planted phenotypes."""

import faiss

from satcluster.evaluation import evaluate_phenotypes
from satcluster.runlog import setup_logging, user_errors_exit

log = setup_logging(snakemake.log[0])
faiss.omp_set_num_threads(snakemake.threads)
with user_errors_exit(log):
    table = evaluate_phenotypes(
        snakemake.input.tiles,
        snakemake.input.index,
        snakemake.input.labels,
        snakemake.input.truth,
        snakemake.output[0],
        ks=list(snakemake.params.ks),
        pca_dim=snakemake.params.pca_dim,
        seed=snakemake.params.seed,
        n_init=snakemake.params.n_init,
    )
    log.info("agreement with the planted phenotypes:\n%s", table.to_string(index=False))
