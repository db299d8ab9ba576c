"""Snakemake adapter: NMI/ARI of the clusters and two baselines against the planted phenotypes."""

from satcluster.clustering.faiss_backend import set_faiss_threads
from satcluster.demo.evaluate_phenotypes import evaluate_phenotypes
from satcluster.runlog import setup_logging, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    set_faiss_threads(snakemake.threads)
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
