# Stage: demo. The synthetic city near Accra, written under resources/demo/ in the real
# products' formats; only needed when `demo.enabled` (otherwise inputs come from config).


rule demo_city:
    output:
        imagery=list(DEMO_SCENES.values()),
        buildings=DEMO_FILES["buildings"],
        roads=DEMO_FILES["roads"],
        population=DEMO_FILES["population"],
        landsat_red=DEMO_FILES["landsat_red"],
        landsat_nir=DEMO_FILES["landsat_nir"],
        landsat_qa=DEMO_FILES["landsat_qa"],
        truth=DEMO_FILES["truth"],
    log:
        f"{LOGS}/demo/demo_city.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        seed=config["demo"]["seed"],
        size_m=config["demo"]["size_m"],
        resolution_m=config["demo"]["resolution_m"],
        n_scenes=config["demo"]["n_scenes"],
    script:
        "../scripts/demo_city.py"
