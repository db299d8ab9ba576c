# Stage: demo. The synthetic demo city (near Accra unless its crs says otherwise), written
# under resources/demo/ (resources/demo/<city>/ in a study) in the real products' formats;
# only needed for demo cities (otherwise inputs come from config).


include: "helpers/demo.smk"


rule demo_city:
    output:
        imagery=[str(path) for path in DEMO_OUTPUTS.imagery],
        buildings=str(DEMO_OUTPUTS.buildings),
        roads=str(DEMO_OUTPUTS.roads),
        population=str(DEMO_OUTPUTS.population),
        landsat_red=str(DEMO_OUTPUTS.landsat_red),
        landsat_nir=str(DEMO_OUTPUTS.landsat_nir),
        landsat_qa=str(DEMO_OUTPUTS.landsat_qa),
        truth=str(DEMO_OUTPUTS.truth),
    log:
        f"{CITY_ROOT_LOGS}/demo/demo_city.log",
    benchmark:
        f"{CITY_ROOT_BENCHMARKS}/demo/demo_city.tsv"
    conda:
        CONDA_ENV
    threads: 4  # painting the imagery; the same bytes on any number
    resources:
        mem_mb=4000,  # one strip in the painting per thread: ~350 MB each at 25,000 px wide
        runtime=30,
    params:
        seed=demo_setting("seed"),
        size_m=demo_setting("size_m"),
        resolution_m=demo_setting("resolution_m"),
        n_scenes=demo_setting("n_scenes"),
        phenotype_shares=demo_setting("phenotype_shares"),
        crs=city_crs,
    script:
        "../scripts/demo_city.py"
