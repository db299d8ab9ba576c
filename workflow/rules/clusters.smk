# Final clusters: PCA-whitened embedding of the saved features and k-means for every k.
# Only clusters.ks, pca_dim, seed and n_init are params: changing final_k or names never reclusters.
# In a study: per scale and seed on the pooled embedding (a cluster id means the same in every
# city), then split back per city for the maps and figures: the reference seed's clusters, or
# with several seeds and `clusters.consensus` their consensus (results/pooled/<scale>px/consensus/).


rule cluster_tiles:
    input:
        features=rules.train_deepcluster.output.features,
    output:
        labels=f"{MODEL_DIR}/clusters/labels.parquet",
        embedding=f"{MODEL_DIR}/clusters/embedding.npy",
        centroids=f"{MODEL_DIR}/clusters/centroids.npz",
    log:
        f"{MODEL_LOGS}/clusters/cluster_tiles.log",
    benchmark:
        f"{MODEL_BENCHMARKS}/clusters/cluster_tiles.tsv"
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
        benchmark:
            f"{MODEL_BENCHMARKS}/clusters/label_cities.tsv"
        conda:
            CONDA_ENV
        resources:
            mem_mb=2000,
            runtime=15,
        script:
            "../scripts/label_cities.py"

    if CONSENSUS:

        # The seeds' consensus for every k (k-means on their joint embedding) and each tile's
        # confidence (satcluster.clustering.consensus_clusters).
        # Only ks, seed and n_init are params: nothing here ever retrains.
        rule consensus_clusters:
            input:
                # every seed of the scale, the reference seed first
                embeddings=expand(
                    rules.cluster_tiles.output.embedding,
                    seed=SEEDS,
                    allow_missing=True,
                ),
                labels=expand(
                    rules.cluster_tiles.output.labels, seed=SEEDS, allow_missing=True
                ),
            output:
                labels=f"{CONSENSUS_DIR}/labels.parquet",
                confidence=f"{CONSENSUS_DIR}/confidence.parquet",
            log:
                f"{CONSENSUS_LOGS}/consensus_clusters.log",
            benchmark:
                f"{CONSENSUS_BENCHMARKS}/consensus_clusters.tsv"
            conda:
                CONDA_ENV
            threads: 2
            resources:
                mem_mb=8000,
                runtime=60,
            params:
                ks=KS,
                seed=config["clusters"]["seed"],
                n_init=config["clusters"]["consensus_n_init"],
            script:
                "../scripts/consensus_clusters.py"

        # One city's rows of the consensus confidence (the GeoJSON's cluster_confidence).
        rule split_city_confidence:
            input:
                confidence=rules.consensus_clusters.output.confidence,
                index=rules.pool_tiles.output.index,
            output:
                confidence=f"{CITY_DIR}/clusters/confidence.parquet",
            log:
                f"{CITY_LOGS}/clusters/split_city_confidence.log",
            benchmark:
                f"{CITY_BENCHMARKS}/clusters/split_city_confidence.tsv"
            conda:
                CONDA_ENV
            resources:
                mem_mb=2000,
                runtime=15,
            script:
                "../scripts/split_city_confidence.py"

    # One city's labels (the consensus, else the reference seed's) and embedding rows of
    # the reference seed's model.
    rule split_city:
        input:
            labels=(
                rules.consensus_clusters.output.labels
                if CONSENSUS
                else reference_model(rules.cluster_tiles.output.labels)
            ),
            embedding=reference_model(rules.cluster_tiles.output.embedding),
            index=rules.pool_tiles.output.index,
        output:
            labels=f"{CITY_DIR}/clusters/labels.parquet",
            embedding=f"{CITY_DIR}/clusters/embedding.npy",
        log:
            f"{CITY_LOGS}/clusters/split_city.log",
        benchmark:
            f"{CITY_BENCHMARKS}/clusters/split_city.tsv"
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
# The city's consensus confidence per tile, when there is a consensus (else no file).
CITY_CONFIDENCE = rules.split_city_confidence.output.confidence if CONSENSUS else []
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
    benchmark:
        f"{CITY_BENCHMARKS}/clusters/evaluate_phenotypes.tsv"
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
