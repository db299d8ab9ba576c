# Final clusters: PCA-whitened embedding of the saved features and k-means for every k.
# Only clusters.ks, pca_dim, seed and n_init are params: changing final_k or names never reclusters.
# In a study: per scale and seed on the pooled embedding (a cluster id means the same in every
# city), then split back per city for the reference seed's maps and figures.


rule cluster_tiles:
    input:
        features=rules.train_deepcluster.output.features,
    output:
        labels=f"{MODEL_DIR}/clusters/labels.parquet",
        embedding=f"{MODEL_DIR}/clusters/embedding.npy",
        centroids=f"{MODEL_DIR}/clusters/centroids.npz",
    log:
        f"{MODEL_LOGS}/clusters/cluster_tiles.log",
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


if IS_STUDY:

    # The pooled labels with each tile's city and own tile_id, for the comparisons.
    rule label_cities:
        input:
            labels=rules.cluster_tiles.output.labels,
            index=rules.pool_tiles.output.index,
        output:
            labels=f"{MODEL_DIR}/clusters/city_labels.parquet",
        log:
            f"{MODEL_LOGS}/clusters/label_cities.log",
        conda:
            CONDA_ENV
        resources:
            mem_mb=2000,
            runtime=15,
        script:
            "../scripts/label_cities.py"

    # One city's labels and embedding rows of the reference seed's model.
    rule split_city:
        input:
            labels=reference_model(rules.cluster_tiles.output.labels),
            embedding=reference_model(rules.cluster_tiles.output.embedding),
            index=rules.pool_tiles.output.index,
        output:
            labels=f"{CITY_DIR}/clusters/labels.parquet",
            embedding=f"{CITY_DIR}/clusters/embedding.npy",
        log:
            f"{CITY_LOGS}/clusters/split_city.log",
        conda:
            CONDA_ENV
        resources:
            mem_mb=4000,
            runtime=15,
        script:
            "../scripts/split_city.py"


# The labels and embedding of one city (and scale) that its maps and figures show.
CITY_LABELS = (
    rules.split_city.output.labels if IS_STUDY else rules.cluster_tiles.output.labels
)
CITY_EMBEDDING = (
    rules.split_city.output.embedding
    if IS_STUDY
    else rules.cluster_tiles.output.embedding
)


# Demo only: agreement (NMI, ARI) of the clusters with the planted phenotypes, and of two
# baselines (k-means on downsampled pixels and on colour histograms) through the same pipeline.
rule evaluate_phenotypes:
    input:
        tiles=rules.gather_tiles.output.tiles,
        index=rules.gather_tiles.output.index,
        labels=CITY_LABELS,
        truth=rules.demo_city.output.truth,
    output:
        report(
            f"{CITY_DIR}/clusters/phenotype_agreement.csv",
            caption="../report/phenotype_agreement.rst",
            category="Clusters",
        ),
    log:
        f"{CITY_LOGS}/clusters/evaluate_phenotypes.log",
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
