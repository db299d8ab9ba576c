# The covariate stage's inputs: each city's active sources and their files
# (satcluster.study.inputs), and the chunks of tiles that one job measures.
from satcluster.study import inputs as study_inputs
from satcluster.study.inputs import COVARIATE_SOURCES, active_sources, ndvi_product

CHUNKS = list(range(config["covariates"]["chunks"]))
# The covariate sources of every city; two NDVI products for one city stop the run here.
with config_errors():
    ACTIVE_SOURCES = {name: active_sources(city) for name, city in STUDY.cities.items()}
# The rule (rules/covariates.smk) that measures one chunk of tiles, per source.
CHUNK_RULES = {
    "buildings": "building_covariates",
    "roads": "road_covariates",
    "population": "population_covariates",
    "ndvi": "ndvi_covariates",
}


def covariate_chunks(wildcards) -> list:
    """The chunk tables of covariate source `{source}`, gathered into one table."""
    chunk_rule = getattr(rules, CHUNK_RULES[wildcards.source])
    return expand(chunk_rule.output.table, chunk=CHUNKS, **dict(wildcards.items()))


def buildings_file(wildcards) -> list:
    """The building footprint file(s): the demo's or the city's `inputs.buildings`."""
    with config_errors():
        return study_inputs.vector_files(inputs_of(wildcards), "buildings")


def roads_file(wildcards) -> list:
    """The OpenStreetMap file(s): the demo's or the city's `inputs.roads`."""
    with config_errors():
        return study_inputs.vector_files(inputs_of(wildcards), "roads")


def population_file(wildcards) -> str:
    """The WorldPop population file: the demo's or the city's `inputs.population`."""
    with config_errors():
        return study_inputs.source_file(inputs_of(wildcards), "population")


def ndvi_files(wildcards) -> dict:
    """Band -> file of the city's NDVI product: Landsat red/nir/qa or Sentinel-2 red/nir/scl."""
    with config_errors():
        return study_inputs.ndvi_files(inputs_of(wildcards))


def ndvi_product_of(wildcards) -> str | None:
    """ "landsat" or "sentinel2": the product whose bands `ndvi_files` gives the job."""
    return ndvi_product(city_of(wildcards))


def boa_add_offset(wildcards):
    """The configured Sentinel-2 offset (used only without product metadata), or None."""
    return study_inputs.boa_add_offset(city_of(wildcards))
