# Tiling: one job per imagery scene onto the global grid, then one gather that keeps one
# tile per grid cell. Per-scene outputs are kept (not temp): adding or changing a scene
# re-tiles that scene only, and reordering scenes reruns the gather only.
# In a study this runs per city and scale; pool_tiles then joins the cities of a scale.


include: "helpers/tiles.smk"


rule tile_scene:
    input:
        unpack(scene_inputs),
    output:
        npy=f"{CITY_DIR}/tiles/scenes/{{scene}}.npy",
        index=f"{CITY_DIR}/tiles/scenes/{{scene}}.parquet",
    log:
        f"{CITY_LOGS}/tiles/tile_scene_{{scene}}.log",
    benchmark:
        f"{CITY_BENCHMARKS}/tiles/tile_scene_{{scene}}.tsv"
    wildcard_constraints:
        scene="|".join(re.escape(name) for name in SCENE_NAMES),
    conda:
        CONDA_ENV
    threads: 2  # GDAL decodes on 2 threads, ahead of the cutting and writing of tiles
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        crs=city_crs,
        size_px=scale_of,
        resolution_m=config["tiles"]["resolution_m"],
        max_nodata_fraction=config["tiles"]["max_nodata_fraction"],
        uint16_percentiles=config["tiles"]["uint16_percentiles"],
        window_rows=config["tiles"]["window_rows"],
    script:
        "../scripts/tile_scene.py"


rule gather_tiles:
    input:
        npy=lambda w: expand(
            rules.tile_scene.output.npy, scene=city_scenes(w), **dict(w.items())
        ),
        index=lambda w: expand(
            rules.tile_scene.output.index, scene=city_scenes(w), **dict(w.items())
        ),
    output:
        tiles=f"{CITY_DIR}/tiles/tiles.npy",
        index=f"{CITY_DIR}/tiles/index.parquet",
    log:
        f"{CITY_LOGS}/tiles/gather_tiles.log",
    benchmark:
        f"{CITY_BENCHMARKS}/tiles/gather_tiles.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        scenes=city_scenes,
    script:
        "../scripts/gather_tiles.py"


if IS_STUDY:

    # One model per scale learns from every city: their tiles, one after the other.
    rule pool_tiles:
        input:
            tiles=pooled_city_tiles,
        output:
            tiles=f"{POOLED_DIR}/tiles.npy",
            index=f"{POOLED_DIR}/index.parquet",
        log:
            f"{LOGS}/pooled/{{scale}}px/pool_tiles.log",
        benchmark:
            f"{BENCHMARKS}/pooled/{{scale}}px/pool_tiles.tsv"
        conda:
            CONDA_ENV
        resources:
            mem_mb=2000,
            runtime=60,
        params:
            cities=CITIES,
        script:
            "../scripts/pool_tiles.py"
