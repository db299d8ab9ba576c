# Per-tile covariates: one job per source and chunk of tiles, then a gather per source.
# Only the sources a city has files for run (satcluster.study.inputs.active_sources).


include: "helpers/covariates.smk"


rule building_covariates:
    input:
        index=rules.gather_tiles.output.index,
        buildings=buildings_file,
    output:
        table=temp(f"{CITY_DIR}/covariates/chunks/buildings_{{chunk}}.parquet"),
    log:
        f"{CITY_LOGS}/covariates/buildings_{{chunk}}.log",
    benchmark:
        f"{CITY_BENCHMARKS}/covariates/buildings_{{chunk}}.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        n_chunks=len(CHUNKS),
        crs=city_crs,
        min_confidence=config["covariates"]["buildings_min_confidence"],
    script:
        "../scripts/building_covariates.py"


rule road_lines:
    input:
        osm=roads_file,
    output:
        lines=f"{CITY_ROOT}/covariates/road_lines.parquet",
    log:
        f"{CITY_ROOT_LOGS}/covariates/road_lines.log",
    benchmark:
        f"{CITY_ROOT_BENCHMARKS}/covariates/road_lines.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        crs=city_crs,
    script:
        "../scripts/road_lines.py"


rule road_covariates:
    input:
        index=rules.gather_tiles.output.index,
        roads=rules.road_lines.output.lines,
    output:
        table=temp(f"{CITY_DIR}/covariates/chunks/roads_{{chunk}}.parquet"),
    log:
        f"{CITY_LOGS}/covariates/roads_{{chunk}}.log",
    benchmark:
        f"{CITY_BENCHMARKS}/covariates/roads_{{chunk}}.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        n_chunks=len(CHUNKS),
        crs=city_crs,
        major_classes=config["covariates"]["major_road_classes"],
    script:
        "../scripts/road_covariates.py"


rule population_covariates:
    input:
        index=rules.gather_tiles.output.index,
        population=population_file,
    output:
        table=temp(f"{CITY_DIR}/covariates/chunks/population_{{chunk}}.parquet"),
    log:
        f"{CITY_LOGS}/covariates/population_{{chunk}}.log",
    benchmark:
        f"{CITY_BENCHMARKS}/covariates/population_{{chunk}}.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        n_chunks=len(CHUNKS),
    script:
        "../scripts/population_covariates.py"


rule ndvi_covariates:
    input:
        unpack(ndvi_files),
        index=rules.gather_tiles.output.index,
    output:
        table=temp(f"{CITY_DIR}/covariates/chunks/ndvi_{{chunk}}.parquet"),
    log:
        f"{CITY_LOGS}/covariates/ndvi_{{chunk}}.log",
    benchmark:
        f"{CITY_BENCHMARKS}/covariates/ndvi_{{chunk}}.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        n_chunks=len(CHUNKS),
        product=ndvi_product_of,
        boa_add_offset=boa_add_offset,
    script:
        "../scripts/ndvi_covariates.py"


rule gather_covariates:
    input:
        covariate_chunks,
    output:
        table=f"{CITY_DIR}/covariates/{{source}}.parquet",
    log:
        f"{CITY_LOGS}/covariates/gather_{{source}}.log",
    benchmark:
        f"{CITY_BENCHMARKS}/covariates/gather_{{source}}.tsv"
    wildcard_constraints:
        source="|".join(COVARIATE_SOURCES),
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/gather_covariates.py"
