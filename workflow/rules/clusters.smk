# Final clusters: PCA-whitened embedding of the saved features and k-means for every k.
# Only clusters.ks, pca_dim, seed and n_init are params: changing final_k or names never reclusters.


rule cluster_tiles:
    input:
        features=rules.train_deepcluster.output.features,
    output:
        labels=f"{RESULTS}/clusters/labels.parquet",
        embedding=f"{RESULTS}/clusters/embedding.npy",
        centroids=f"{RESULTS}/clusters/centroids.npz",
    log:
        f"{LOGS}/clusters/cluster_tiles.log",
    conda:
        CONDA_ENV
    threads: 4
    resources:
        mem_mb=16000,
        runtime=60,
    params:
        ks=KS,
        pca_dim=config["clusters"]["pca_dim"],
        seed=config["clusters"]["seed"],
        n_init=config["clusters"]["n_init"],
    script:
        "../scripts/cluster_tiles.py"


# Demo only: agreement (NMI, ARI) of the clusters with the planted phenotypes, and of two
# baselines (k-means on downsampled pixels and on colour histograms) through the same pipeline.
rule evaluate_phenotypes:
    input:
        tiles=rules.gather_tiles.output.tiles,
        index=rules.gather_tiles.output.index,
        labels=rules.cluster_tiles.output.labels,
        truth=rules.demo_city.output.truth,
    output:
        report(
            f"{RESULTS}/clusters/phenotype_agreement.csv",
            caption="../report/phenotype_agreement.rst",
            category="Clusters",
        ),
    log:
        f"{LOGS}/clusters/evaluate_phenotypes.log",
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        ks=KS,
        pca_dim=config["clusters"]["pca_dim"],
        seed=config["clusters"]["seed"],
        n_init=config["clusters"]["n_init"],
    script:
        "../scripts/evaluate_phenotypes.py"
