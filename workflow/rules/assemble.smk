# Assembly: one GeoJSON feature per tile (clusters, cluster name, covariates) in the city's crs.
# Only the active covariate sources are inputs; a source that is not configured is omitted.


include: "helpers/assemble.smk"


rule assemble_geojson:
    input:
        index=rules.gather_tiles.output.index,
        labels=CITY_LABELS,
        confidence=CITY_CONFIDENCE,
        covariates=covariate_tables,
    output:
        geojson=report(
            f"{CITY_DIR}/cluster_shapefile.geojson",
            caption="../report/cluster_shapefile.rst",
            category="Clusters",
        ),
        parquet=f"{CITY_DIR}/cluster_shapefile.parquet",
        names=f"{CITY_DIR}/clusters/suggested_names.yaml",
    log:
        f"{CITY_LOGS}/assemble/assemble_geojson.log",
    benchmark:
        f"{CITY_BENCHMARKS}/assemble/assemble_geojson.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        crs=city_crs,
        final_k=FINAL_K,
        names=config["clusters"]["names"],
    script:
        "../scripts/assemble_geojson.py"
