# Config validation, paths and input functions shared by every stage.
# Rule files know paths and resources; the logic lives in src/satcluster.
import glob
from pathlib import Path

from snakemake.exceptions import WorkflowError

from satcluster.config import validate_config
from satcluster.errors import InputError

try:
    validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
except InputError as err:
    raise WorkflowError(str(err)) from None


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

# The demo city's files, written by rules/demo.smk in the real products' formats.
LANDSAT_PREFIX = f"{DEMO_DIR}/landsat/LC08_L2SP_193056_20200101_20200109_02_T1"
DEMO_FILES = {
    "buildings": f"{DEMO_DIR}/buildings.gpkg",
    "roads": f"{DEMO_DIR}/roads.osm",
    "population": f"{DEMO_DIR}/population_ppp.tif",
    "landsat_red": f"{LANDSAT_PREFIX}_SR_B4.TIF",
    "landsat_nir": f"{LANDSAT_PREFIX}_SR_B5.TIF",
    "landsat_qa": f"{LANDSAT_PREFIX}_QA_PIXEL.TIF",
    "truth": f"{DEMO_DIR}/truth.gpkg",
}


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
        return {
            f"scene_{i}": f"{DEMO_DIR}/imagery/scene_{i}.tif"
            for i in range(config["demo"]["n_scenes"])
        }
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
    return SCENES[wildcards.scene]


def source_path(name: str) -> str:
    """Input file of one covariate source or Landsat band: the demo's or the user's."""
    if DEMO:
        return DEMO_FILES[name]
    return _real_file(name.replace("landsat_", "landsat."))


def covariate_table(source: str) -> str:
    return f"{RESULTS}/covariates/{source}.parquet"


def all_outputs() -> list:
    """Final targets of the workflow: the GeoJSON, the figures and the map."""
    return [
        f"{RESULTS}/cluster_shapefile.geojson",
        *figure_outputs(),
        f"{RESULTS}/map.html",
        *([f"{RESULTS}/clusters/phenotype_agreement.csv"] if DEMO else []),
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


def covariate_chunks(wildcards) -> list:
    return [
        f"{RESULTS}/covariates/chunks/{wildcards.source}_{chunk}.parquet"
        for chunk in CHUNKS
    ]


def covariate_tables() -> list:
    return [f"{RESULTS}/covariates/{source}.parquet" for source in ACTIVE_SOURCES]


def buildings_file(wildcards) -> str:
    return source_path("buildings")


def roads_file(wildcards) -> str:
    return source_path("roads")


def population_file(wildcards) -> str:
    return source_path("population")


def landsat_files(wildcards) -> dict:
    return {band: source_path(f"landsat_{band}") for band in ("red", "nir", "qa")}
