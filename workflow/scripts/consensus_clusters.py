"""Snakemake adapter: the seeds' consensus labels and tile confidence for every k."""

from satcluster.clustering.consensus_clusters import consensus_clusters
from satcluster.clustering.faiss_backend import set_faiss_threads
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "consensus stage"):
    set_faiss_threads(snakemake.threads)
    table = consensus_clusters(
        list(snakemake.input.embeddings),
        list(snakemake.input.labels),
        labels_path=snakemake.output.labels,
        confidence_path=snakemake.output.confidence,
        ks=list(snakemake.params.ks),
        seed=snakemake.params.seed,
        n_init=snakemake.params.n_init,
    )
    log.info("consensus of %d seeds for %d tiles", len(snakemake.input.labels), len(table))
