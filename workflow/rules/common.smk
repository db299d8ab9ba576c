# Config validation, paths and input functions shared by every stage.
# Rule files know paths and resources; the logic lives in src/satcluster.
# Rules refer to upstream files as rules.<rule>.output.<name>; the input functions
# below (defined before any rule) do so inside their bodies, which run after parsing.
import glob
from pathlib import Path

from snakemake.exceptions import WorkflowError

import satcluster
from satcluster.config import validate_config
from satcluster.demo import DEMO_FILE_NAMES, demo_city_paths
from satcluster.errors import InputError

# Every workflow file is found relative to this file, never to the working directory or the
# main Snakefile: used as a module (issue 14), the main Snakefile is the user's.
CONFIG_SCHEMA = workflow.source_path("../schemas/config.schema.yaml")
try:
    validate_config(config, CONFIG_SCHEMA)
except InputError as err:
    raise WorkflowError(str(err)) from None
# For the report's front page (report/workflow.rst sees only the config). Set after the
# validation and never read by a rule; jobs re-read the config files, without it.
config["satcluster_version"] = satcluster.__version__


# The conda environment file of every rule, used with `--software-deployment-method conda`
# (relative to the rule files).
CONDA_ENV = "../envs/satcluster.yaml"
DEMO = config["demo"]["enabled"]
DEMO_DIR = "resources/demo"
RESULTS = "results"
LOGS = "logs"
KS = config["clusters"]["ks"]
FINAL_K = config["clusters"]["final_k"]
CHUNKS = list(range(config["covariates"]["chunks"]))
COVARIATE_SOURCES = ["buildings", "roads", "population", "ndvi"]

# The demo city's files, written by rules/demo.smk in the real products' formats; their
# names are those of satcluster.demo (DEMO_FILE_NAMES), the one table of them.
_DEMO_CITY = demo_city_paths(DEMO_DIR, config["demo"]["n_scenes"])
DEMO_SCENES = {path.stem: str(path) for path in _DEMO_CITY.imagery}
DEMO_FILES = {key: str(getattr(_DEMO_CITY, key)) for key in DEMO_FILE_NAMES}


def _real_file(key: str) -> str:
    """Path under config `inputs` (dotted key); stop with a clear message if missing."""
    value = config["inputs"]
    for part in key.split("."):
        value = value[part]
    if value is None:
        raise WorkflowError(
            f"config: `inputs.{key}` is not set; give the path to your file "
            "(see config/accra.yaml) or set `demo.enabled: true`."
        )
    if not Path(value).is_file():
        raise WorkflowError(
            f"config: `inputs.{key}` points to {value}, which does not exist; fix the path."
        )
    return value


def scene_paths() -> dict:
    """Imagery scene name -> GeoTIFF path, in priority order (earlier wins overlaps)."""
    if DEMO:
        return dict(DEMO_SCENES)
    scenes = {}
    for pattern in config["inputs"]["imagery"]:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        matches = [m for m in matches if Path(m).is_file()]
        if not matches:
            raise WorkflowError(
                f"config: `inputs.imagery` entry {pattern!r} matches no file; fix the path or glob."
            )
        for path in matches:
            name = Path(path).stem
            while name in scenes:
                name += "_"
            scenes[name] = path
    return scenes


SCENES = scene_paths()


def scene_path(wildcards) -> str:
    """The GeoTIFF of imagery scene `{scene}`."""
    return SCENES[wildcards.scene]


def source_path(name: str) -> str:
    """Input file of one covariate source or Landsat band: the demo's or the user's."""
    if DEMO:
        return DEMO_FILES[name]
    return _real_file(name.replace("landsat_", "landsat."))


def all_outputs() -> list:
    """Final targets of the workflow: the GeoJSON, the figures and the map."""
    return [
        rules.assemble_geojson.output.geojson,
        *figure_outputs(),
        f"{RESULTS}/map.html",
        *(rules.evaluate_phenotypes.output if DEMO else []),
    ]


# --- figures stage -----------------------------------------------------------
FIGURE_NAMES = [
    "cluster_map",
    "example_tiles",
    "cluster_shares",
    "cluster_sankey",
    "covariate_radar",
    "covariate_distributions",
    "embedding_pca",
    "centroid_distances",
    "training_curves",
]
COVARIATE_FIGURE_NAMES = ["covariate_radar", "covariate_distributions"]
DEMO_FIGURE_NAMES = ["phenotype_contingency"]  # needs the demo city's planted truth


def figure_report(name: str, ext: str, figure: str, subcategory: str):
    """`results/figures/{name}.{ext}` marked for the report, captioned by report/{name}.rst."""
    return report(
        f"{RESULTS}/figures/{name}.{ext}",
        caption=f"../report/{name}.rst",
        category="Figures",
        subcategory=subcategory,
        labels={"figure": figure, "format": ext.upper()},
    )


def figure_outputs() -> list:
    """Every figure file, PNG and PDF (the map is listed apart: results/map.html).

    Covariate figures need at least one configured covariate source; the phenotype
    figure needs the demo city's truth.
    """
    names = [
        name
        for name in FIGURE_NAMES
        if ACTIVE_SOURCES or name not in COVARIATE_FIGURE_NAMES
    ]
    names += DEMO_FIGURE_NAMES if DEMO else []
    return [
        f"{RESULTS}/figures/{name}.{ext}" for name in names for ext in ("png", "pdf")
    ]


# --- covariates stage ----------------------------------------------------------
def _source_configured(source: str) -> bool:
    if DEMO:
        return True
    inputs = config["inputs"]
    if source == "ndvi":
        return all(inputs["landsat"][band] for band in ("red", "nir", "qa"))
    return inputs[source] is not None


# Sources without input files are skipped (their columns are absent from the GeoJSON).
ACTIVE_SOURCES = [s for s in COVARIATE_SOURCES if _source_configured(s)]
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
    return expand(chunk_rule.output.table, chunk=CHUNKS)


def covariate_tables() -> list:
    """The gathered table of every active covariate source (after rules/covariates.smk)."""
    return expand(rules.gather_covariates.output.table, source=ACTIVE_SOURCES)


def buildings_file(wildcards) -> str:
    """The building footprints file: the demo's or config `inputs.buildings`."""
    return source_path("buildings")


def roads_file(wildcards) -> str:
    """The OpenStreetMap roads file: the demo's or config `inputs.roads`."""
    return source_path("roads")


def population_file(wildcards) -> str:
    """The WorldPop population file: the demo's or config `inputs.population`."""
    return source_path("population")


def landsat_files(wildcards) -> dict:
    """Band (red, nir, qa) -> Landsat file: the demo's or config `inputs.landsat`."""
    return {band: source_path(f"landsat_{band}") for band in ("red", "nir", "qa")}
