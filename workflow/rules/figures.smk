# Figures, the interactive map and the report: one rule and script per figure, each reading
# only the files it draws and receiving only the settings it uses, so that changing a
# `figures:` setting redraws figures and never recomputes results.
# `snakemake figures` (or `make figures`) redraws everything from existing results.

CLUSTER_TABLE = f"{RESULTS}/cluster_shapefile.parquet"
FIGURES = f"{RESULTS}/figures"
FIGURE_DPI = config["figures"]["dpi"]
PALETTE = config["figures"]["palette"]


localrules:
    figures,


rule figures:
    input:
        figure_outputs(),
        f"{RESULTS}/map.html",


rule plot_cluster_map:
    input:
        table=CLUSTER_TABLE,
    output:
        png=report(
            f"{FIGURES}/cluster_map.png",
            caption="../report/cluster_map.rst",
            category="Figures",
            subcategory="Clusters",
            labels={"figure": "cluster map", "format": "PNG"},
        ),
        pdf=report(
            f"{FIGURES}/cluster_map.pdf",
            caption="../report/cluster_map.rst",
            category="Figures",
            subcategory="Clusters",
            labels={"figure": "cluster map", "format": "PDF"},
        ),
    log:
        f"{LOGS}/figures/plot_cluster_map.log",
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
        "../scripts/plot_cluster_map.py"


rule plot_example_tiles:
    input:
        table=CLUSTER_TABLE,
        tiles=f"{RESULTS}/tiles/tiles.npy",
    output:
        png=report(
            f"{FIGURES}/example_tiles.png",
            caption="../report/example_tiles.rst",
            category="Figures",
            subcategory="Clusters",
            labels={"figure": "example tiles", "format": "PNG"},
        ),
        pdf=report(
            f"{FIGURES}/example_tiles.pdf",
            caption="../report/example_tiles.rst",
            category="Figures",
            subcategory="Clusters",
            labels={"figure": "example tiles", "format": "PDF"},
        ),
    log:
        f"{LOGS}/figures/plot_example_tiles.log",
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
        png=report(
            f"{FIGURES}/cluster_shares.png",
            caption="../report/cluster_shares.rst",
            category="Figures",
            subcategory="Clusters",
            labels={"figure": "cluster shares", "format": "PNG"},
        ),
        pdf=report(
            f"{FIGURES}/cluster_shares.pdf",
            caption="../report/cluster_shares.rst",
            category="Figures",
            subcategory="Clusters",
            labels={"figure": "cluster shares", "format": "PDF"},
        ),
    log:
        f"{LOGS}/figures/plot_cluster_shares.log",
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
        png=report(
            f"{FIGURES}/cluster_sankey.png",
            caption="../report/cluster_sankey.rst",
            category="Figures",
            subcategory="Clusters",
            labels={"figure": "Sankey diagram across k", "format": "PNG"},
        ),
        pdf=report(
            f"{FIGURES}/cluster_sankey.pdf",
            caption="../report/cluster_sankey.rst",
            category="Figures",
            subcategory="Clusters",
            labels={"figure": "Sankey diagram across k", "format": "PDF"},
        ),
    log:
        f"{LOGS}/figures/plot_cluster_sankey.log",
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
        png=report(
            f"{FIGURES}/covariate_radar.png",
            caption="../report/covariate_radar.rst",
            category="Figures",
            subcategory="Covariates",
            labels={"figure": "radar charts", "format": "PNG"},
        ),
        pdf=report(
            f"{FIGURES}/covariate_radar.pdf",
            caption="../report/covariate_radar.rst",
            category="Figures",
            subcategory="Covariates",
            labels={"figure": "radar charts", "format": "PDF"},
        ),
    log:
        f"{LOGS}/figures/plot_covariate_radar.log",
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
        png=report(
            f"{FIGURES}/covariate_distributions.png",
            caption="../report/covariate_distributions.rst",
            category="Figures",
            subcategory="Covariates",
            labels={"figure": "covariate distributions", "format": "PNG"},
        ),
        pdf=report(
            f"{FIGURES}/covariate_distributions.pdf",
            caption="../report/covariate_distributions.rst",
            category="Figures",
            subcategory="Covariates",
            labels={"figure": "covariate distributions", "format": "PDF"},
        ),
    log:
        f"{LOGS}/figures/plot_covariate_distributions.log",
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
        embedding=f"{RESULTS}/clusters/embedding.npy",
    output:
        png=report(
            f"{FIGURES}/embedding_pca.png",
            caption="../report/embedding_pca.rst",
            category="Figures",
            subcategory="Embedding",
            labels={"figure": "PC1/PC2 scatter", "format": "PNG"},
        ),
        pdf=report(
            f"{FIGURES}/embedding_pca.pdf",
            caption="../report/embedding_pca.rst",
            category="Figures",
            subcategory="Embedding",
            labels={"figure": "PC1/PC2 scatter", "format": "PDF"},
        ),
    log:
        f"{LOGS}/figures/plot_embedding_pca.log",
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
        embedding=f"{RESULTS}/clusters/embedding.npy",
    output:
        png=report(
            f"{FIGURES}/centroid_distances.png",
            caption="../report/centroid_distances.rst",
            category="Figures",
            subcategory="Embedding",
            labels={"figure": "centroid distances", "format": "PNG"},
        ),
        pdf=report(
            f"{FIGURES}/centroid_distances.pdf",
            caption="../report/centroid_distances.rst",
            category="Figures",
            subcategory="Embedding",
            labels={"figure": "centroid distances", "format": "PDF"},
        ),
    log:
        f"{LOGS}/figures/plot_centroid_distances.log",
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
        training_log=f"{RESULTS}/deepcluster/training_log.csv",
    output:
        png=report(
            f"{FIGURES}/training_curves.png",
            caption="../report/training_curves.rst",
            category="Figures",
            subcategory="Training",
            labels={"figure": "DeepCluster training", "format": "PNG"},
        ),
        pdf=report(
            f"{FIGURES}/training_curves.pdf",
            caption="../report/training_curves.rst",
            category="Figures",
            subcategory="Training",
            labels={"figure": "DeepCluster training", "format": "PDF"},
        ),
    log:
        f"{LOGS}/figures/plot_training_curves.log",
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
        truth=DEMO_FILES["truth"],
    output:
        png=report(
            f"{FIGURES}/phenotype_contingency.png",
            caption="../report/phenotype_contingency.rst",
            category="Figures",
            subcategory="Evaluation (demo)",
            labels={"figure": "clusters vs planted phenotypes", "format": "PNG"},
        ),
        pdf=report(
            f"{FIGURES}/phenotype_contingency.pdf",
            caption="../report/phenotype_contingency.rst",
            category="Figures",
            subcategory="Evaluation (demo)",
            labels={"figure": "clusters vs planted phenotypes", "format": "PDF"},
        ),
    log:
        f"{LOGS}/figures/plot_phenotype_contingency.log",
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


rule web_map:
    input:
        table=CLUSTER_TABLE,
        tiles=f"{RESULTS}/tiles/tiles.npy",
    output:
        report(
            f"{RESULTS}/map.html",
            caption="../report/web_map.rst",
            category="Figures",
            subcategory="Interactive map",
            labels={"figure": "interactive map", "format": "HTML"},
        ),
    log:
        f"{LOGS}/figures/web_map.log",
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
    script:
        "../scripts/web_map.py"
