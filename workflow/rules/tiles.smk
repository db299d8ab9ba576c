# Tiling: one job per imagery scene onto the global grid, then one gather that keeps one
# tile per grid cell. Per-scene outputs are kept (not temp): adding or changing a scene
# re-tiles that scene only, and reordering scenes reruns the gather only.
import re


rule tile_scene:
    input:
        scene=scene_path,
    output:
        npy=f"{RESULTS}/tiles/scenes/{{scene}}.npy",
        index=f"{RESULTS}/tiles/scenes/{{scene}}.parquet",
    log:
        f"{LOGS}/tiles/tile_scene_{{scene}}.log",
    wildcard_constraints:
        scene="|".join(re.escape(name) for name in SCENES),
    conda:
        CONDA_ENV
    threads: 2  # one reads (GDAL decompression) while the other cuts and writes tiles
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        crs=config["crs"],
        size_px=config["tiles"]["size_px"],
        resolution_m=config["tiles"]["resolution_m"],
        max_nodata_fraction=config["tiles"]["max_nodata_fraction"],
        uint16_percentiles=config["tiles"]["uint16_percentiles"],
        window_rows=config["tiles"]["window_rows"],
    script:
        "../scripts/tile_scene.py"


rule gather_tiles:
    input:
        npy=expand(rules.tile_scene.output.npy, scene=SCENES),
        index=expand(rules.tile_scene.output.index, scene=SCENES),
    output:
        tiles=f"{RESULTS}/tiles/tiles.npy",
        index=f"{RESULTS}/tiles/index.parquet",
    log:
        f"{LOGS}/tiles/gather_tiles.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        scenes=list(SCENES),
    script:
        "../scripts/gather_tiles.py"
