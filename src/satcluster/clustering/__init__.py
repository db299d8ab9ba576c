"""From features to named clusters: the embedding, k-means for every k, consensus, names.

One module per concern, each stage's module named after its rule: ``embedding``
(PCA-whitening + L2 and faiss k-means, shared with DeepCluster training),
``faiss_backend`` (the installed faiss wheel, CPU or GPU), ``cluster_tiles`` (the clusters
stage: embedding, labels at every k with ids ordered across k, centroids),
``consensus_clusters`` (one clustering from several seeds' and each tile's confidence),
``cluster_means`` (a per-tile value averaged per cluster), ``agreement`` (NMI and ARI of two
labellings) and ``naming`` with ``naming_traits`` (cluster names from covariate profiles).
Import from the modules: the package itself imports nothing, so that DeepCluster training
can use ``embedding`` without loading the clusters stage.
"""
