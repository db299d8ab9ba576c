"""Snakemake adapter: embedding and k-means labels for every k from the DeepCluster features."""

from satcluster.clustering.cluster_tiles import cluster_tiles
from satcluster.clustering.faiss_backend import set_faiss_threads
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "clusters stage"):
    set_faiss_threads(snakemake.threads)
    table = cluster_tiles(
        snakemake.input.features,
        labels_path=snakemake.output.labels,
        embedding_path=snakemake.output.embedding,
        centroids_path=snakemake.output.centroids,
        ks=list(snakemake.params.ks),
        pca_dim=snakemake.params.pca_dim,
        seed=snakemake.params.seed,
        n_init=snakemake.params.n_init,
    )
    log.info("labels for k in %s written for %d tiles", list(snakemake.params.ks), len(table))
