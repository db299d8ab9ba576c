# Figures, the interactive map and the report: one rule and script per figure, each reading
# only the files it draws and receiving only the settings it uses, so that changing a
# `figures:` setting redraws figures and never recomputes results.
# Rule plot_<name> runs scripts/plot_<name>.py, which calls satcluster.figures.<name>;
# its PNG and PDF are results/figures/<name>.{png,pdf}, captioned by report/<name>.rst.
# `snakemake figures` (or `make figures`) redraws everything from existing results.


include: "helpers/figures.smk"


CLUSTER_TABLE = rules.assemble_geojson.output.parquet
FIGURE_DPI = config["figures"]["dpi"]
PALETTE = config["figures"]["palette"]
LOW_CONFIDENCE = config["figures"][
    "low_confidence"
]  # maps fade tiles below it (consensus)


localrules:
    figures,


rule plot_cluster_map:
    input:
        table=CLUSTER_TABLE,
    output:
        png=figure_report("cluster_map", "png", "cluster map", "Clusters"),
        pdf=figure_report("cluster_map", "pdf", "cluster map", "Clusters"),
    log:
        f"{CITY_LOGS}/figures/plot_cluster_map.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_cluster_map.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        final_k=FINAL_K,
        palette=PALETTE,
        dpi=FIGURE_DPI,
        low_confidence=LOW_CONFIDENCE,
    script:
        "../scripts/plot_cluster_map.py"


# With a consensus of several seeds: the confidence of every cluster's tiles.
rule plot_cluster_confidence:
    input:
        table=CLUSTER_TABLE,
    output:
        png=figure_report("cluster_confidence", "png", "cluster confidence", "Clusters"),
        pdf=figure_report("cluster_confidence", "pdf", "cluster confidence", "Clusters"),
    log:
        f"{CITY_LOGS}/figures/plot_cluster_confidence.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_cluster_confidence.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        final_k=FINAL_K,
        palette=PALETTE,
        dpi=FIGURE_DPI,
        low_confidence=LOW_CONFIDENCE,
    script:
        "../scripts/plot_cluster_confidence.py"


rule plot_example_tiles:
    input:
        table=CLUSTER_TABLE,
        tiles=rules.gather_tiles.output.tiles,
    output:
        png=figure_report("example_tiles", "png", "example tiles", "Clusters"),
        pdf=figure_report("example_tiles", "pdf", "example tiles", "Clusters"),
    log:
        f"{CITY_LOGS}/figures/plot_example_tiles.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_example_tiles.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        final_k=FINAL_K,
        per_cluster=config["figures"]["example_tiles_per_cluster"],
        palette=PALETTE,
        dpi=FIGURE_DPI,
    script:
        "../scripts/plot_example_tiles.py"


rule plot_cluster_shares:
    input:
        table=CLUSTER_TABLE,
    output:
        png=figure_report("cluster_shares", "png", "cluster shares", "Clusters"),
        pdf=figure_report("cluster_shares", "pdf", "cluster shares", "Clusters"),
    log:
        f"{CITY_LOGS}/figures/plot_cluster_shares.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_cluster_shares.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        final_k=FINAL_K,
        palette=PALETTE,
        dpi=FIGURE_DPI,
    script:
        "../scripts/plot_cluster_shares.py"


rule plot_cluster_sankey:
    input:
        table=CLUSTER_TABLE,
    output:
        png=figure_report(
            "cluster_sankey", "png", "Sankey diagram across k", "Clusters"
        ),
        pdf=figure_report(
            "cluster_sankey", "pdf", "Sankey diagram across k", "Clusters"
        ),
    log:
        f"{CITY_LOGS}/figures/plot_cluster_sankey.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_cluster_sankey.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        ks=KS,
        final_k=FINAL_K,
        palette=PALETTE,
        dpi=FIGURE_DPI,
    script:
        "../scripts/plot_cluster_sankey.py"


rule plot_covariate_radar:
    input:
        table=CLUSTER_TABLE,
    output:
        png=figure_report("covariate_radar", "png", "radar charts", "Covariates"),
        pdf=figure_report("covariate_radar", "pdf", "radar charts", "Covariates"),
    log:
        f"{CITY_LOGS}/figures/plot_covariate_radar.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_covariate_radar.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        final_k=FINAL_K,
        palette=PALETTE,
        dpi=FIGURE_DPI,
    script:
        "../scripts/plot_covariate_radar.py"


rule plot_covariate_distributions:
    input:
        table=CLUSTER_TABLE,
    output:
        png=figure_report(
            "covariate_distributions", "png", "covariate distributions", "Covariates"
        ),
        pdf=figure_report(
            "covariate_distributions", "pdf", "covariate distributions", "Covariates"
        ),
    log:
        f"{CITY_LOGS}/figures/plot_covariate_distributions.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_covariate_distributions.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        final_k=FINAL_K,
        palette=PALETTE,
        dpi=FIGURE_DPI,
    script:
        "../scripts/plot_covariate_distributions.py"


rule plot_embedding_pca:
    input:
        table=CLUSTER_TABLE,
        embedding=CITY_EMBEDDING,
    output:
        png=figure_report("embedding_pca", "png", "PC1/PC2 scatter", "Embedding"),
        pdf=figure_report("embedding_pca", "pdf", "PC1/PC2 scatter", "Embedding"),
    log:
        f"{CITY_LOGS}/figures/plot_embedding_pca.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_embedding_pca.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        final_k=FINAL_K,
        palette=PALETTE,
        dpi=FIGURE_DPI,
    script:
        "../scripts/plot_embedding_pca.py"


rule plot_centroid_distances:
    input:
        table=CLUSTER_TABLE,
        embedding=CITY_EMBEDDING,
    output:
        png=figure_report(
            "centroid_distances", "png", "centroid distances", "Embedding"
        ),
        pdf=figure_report(
            "centroid_distances", "pdf", "centroid distances", "Embedding"
        ),
    log:
        f"{CITY_LOGS}/figures/plot_centroid_distances.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_centroid_distances.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        final_k=FINAL_K,
        palette=PALETTE,
        dpi=FIGURE_DPI,
    script:
        "../scripts/plot_centroid_distances.py"


rule plot_training_curves:
    input:
        training_log=reference_model(rules.train_deepcluster.output.training_log),
    output:
        png=figure_report("training_curves", "png", "DeepCluster training", "Training"),
        pdf=figure_report("training_curves", "pdf", "DeepCluster training", "Training"),
    log:
        f"{CITY_LOGS}/figures/plot_training_curves.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_training_curves.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        dpi=FIGURE_DPI,
    script:
        "../scripts/plot_training_curves.py"


rule plot_phenotype_contingency:
    input:
        table=CLUSTER_TABLE,
        truth=rules.demo_city.output.truth,
    output:
        png=figure_report(
            "phenotype_contingency",
            "png",
            "clusters vs planted phenotypes",
            "Evaluation (demo)",
        ),
        pdf=figure_report(
            "phenotype_contingency",
            "pdf",
            "clusters vs planted phenotypes",
            "Evaluation (demo)",
        ),
    log:
        f"{CITY_LOGS}/figures/plot_phenotype_contingency.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_phenotype_contingency.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        final_k=FINAL_K,
        palette=PALETTE,
        dpi=FIGURE_DPI,
    script:
        "../scripts/plot_phenotype_contingency.py"


# The interactive map: an offline HTML page beside the GeoJSON (not under figures/), with
# its folder map_files/ beside it.
rule plot_web_map:
    input:
        table=CLUSTER_TABLE,
        tiles=rules.gather_tiles.output.tiles,
    output:
        html=report(
            f"{CITY_DIR}/map.html",
            caption="../report/web_map.rst",
            category="Figures",
            subcategory="Interactive map",
            labels={"figure": "interactive map", "format": "HTML"},
        ),
        # beside the page: the popups' data and thumbnails, loaded when a popup opens
        files=directory(f"{CITY_DIR}/map_files"),
    log:
        f"{CITY_LOGS}/figures/plot_web_map.log",
    benchmark:
        f"{CITY_BENCHMARKS}/figures/plot_web_map.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        ks=KS,
        final_k=FINAL_K,
        palette=PALETTE,
        thumbnail_px=config["figures"]["map_thumbnail_px"],
        max_thumbnails=config["figures"]["map_max_thumbnails"],
        basemap=config["figures"]["basemap"],
        low_confidence=LOW_CONFIDENCE,
    script:
        "../scripts/plot_web_map.py"


# Every figure and the map (`snakemake figures`), listed last to name the rules above.
rule figures:
    input:
        figure_outputs(),
        every_city_and_scale(rules.plot_web_map.output.html),
