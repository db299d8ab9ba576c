# Config validation, paths and input functions shared by every stage.
# Rule files know paths and resources; the logic lives in src/satcluster.
# Rules refer to upstream files as rules.<rule>.output.<name>; the input functions
# below (defined before any rule) do so inside their bodies, which run after parsing.
import glob
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

import satcluster
from satcluster.config import check_unique_keys, validate_config
from satcluster.covariates.vectors.sources import expand_sources
from satcluster.deepcluster.options import result_settings
from satcluster.demo import demo_city_paths
from satcluster.errors import InputError
from satcluster.study.config import SINGLE_CITY, City, study_plan

# Every workflow file is found relative to this file, never to the working directory or the
# main Snakefile: used as a module (issue 14), the main Snakefile is the user's.
CONFIG_SCHEMA = workflow.source_path("../schemas/config.schema.yaml")
try:
    for _configfile in workflow.configfiles:  # YAML keeps the last of two equal keys
        check_unique_keys(_configfile)
    validate_config(config, CONFIG_SCHEMA)
except InputError as err:
    raise WorkflowError(str(err)) from None
# For the report's front page (report/workflow.rst sees only the config). Set after the
# validation and never read by a rule; jobs re-read the config files, without it.
config["satcluster_version"] = satcluster.__version__


# The conda environment file of every rule, used with `--software-deployment-method conda`
# (relative to the rule files).
CONDA_ENV = "../envs/satcluster.yaml"
DEMO_DIR = "resources/demo"
RESULTS = "results"
LOGS = "logs"
# Every job's cost (Snakemake's benchmark: wall seconds, max RSS, ...), at the log's path
# under results/benchmarks/ instead of logs/ (benchmarks/scale.py reads them).
BENCHMARKS = f"{RESULTS}/benchmarks"
KS = config["clusters"]["ks"]
FINAL_K = config["clusters"]["final_k"]
CHUNKS = list(range(config["covariates"]["chunks"]))
COVARIATE_SOURCES = ["buildings", "roads", "population", "ndvi"]

# --- study: cities x scales (tiling, covariates, maps), scales x seeds (training) ----------
# One city, one scale and one seed is no study: then no path has a wildcard and results/
# holds what it always held. A study puts each city and scale under
# results/<city>/<scale>px/ and each model under results/pooled/<scale>px/seed<seed>/.
try:
    STUDY = study_plan(config)
except InputError as err:
    raise WorkflowError(str(err)) from None
IS_STUDY = STUDY.is_study
CITIES = list(STUDY.cities)
SCALES = STUDY.scales
SEEDS = STUDY.seeds
REFERENCE_SEED = STUDY.reference_seed
CONSENSUS = STUDY.consensus  # maps and figures show the seeds' consensus clusters

if IS_STUDY:
    CITY_DIR = f"{RESULTS}/{{city}}/{{scale}}px"  # one city at one scale
    CITY_LOGS = f"{LOGS}/{{city}}/{{scale}}px"
    CITY_ROOT = f"{RESULTS}/{{city}}"  # one city, every scale (its parsed roads)
    CITY_ROOT_LOGS = f"{LOGS}/{{city}}"
    MODEL_DIR = (
        f"{RESULTS}/pooled/{{scale}}px/seed{{seed}}"  # one model: all cities pooled
    )
    MODEL_LOGS = f"{LOGS}/pooled/{{scale}}px/seed{{seed}}"
    POOLED_DIR = f"{RESULTS}/pooled/{{scale}}px"
    CONSENSUS_DIR = f"{POOLED_DIR}/consensus"  # every seed of one scale combined
    CONSENSUS_LOGS = f"{LOGS}/pooled/{{scale}}px/consensus"
    CONSENSUS_BENCHMARKS = f"{BENCHMARKS}/pooled/{{scale}}px/consensus"
    DEMO_CITY_DIR = f"{DEMO_DIR}/{{city}}"
else:
    CITY_DIR = CITY_ROOT = MODEL_DIR = RESULTS
    CITY_LOGS = CITY_ROOT_LOGS = MODEL_LOGS = LOGS
    DEMO_CITY_DIR = DEMO_DIR


def benchmarks_of(logs: str) -> str:
    """The folder of the benchmark files of the jobs logging under ``logs``."""
    return BENCHMARKS + logs.removeprefix(LOGS)


CITY_BENCHMARKS = benchmarks_of(CITY_LOGS)
CITY_ROOT_BENCHMARKS = benchmarks_of(CITY_ROOT_LOGS)
MODEL_BENCHMARKS = benchmarks_of(MODEL_LOGS)


wildcard_constraints:
    city="|".join(re.escape(name) for name in CITIES),
    scale=r"\d+",
    seed=r"-?\d+",


def city_of(wildcards) -> City:
    """The city of a job (the only one outside a study)."""
    return STUDY.cities[wildcards.city if IS_STUDY else SINGLE_CITY]


def scale_of(wildcards) -> int:
    """The tile side in px of a job."""
    return int(wildcards.scale) if IS_STUDY else SCALES[0]


def seed_of(wildcards) -> int:
    """The DeepCluster seed of a training job."""
    return int(wildcards.seed) if IS_STUDY else SEEDS[0]


def city_crs(wildcards) -> str:
    return city_of(wildcards).crs


def fixed(pattern: str, **values) -> str:
    """``pattern`` with some wildcards set, the others left for the job to fill in."""
    (path,) = expand(pattern, **values, allow_missing=True)
    return path


def reference_model(pattern: str) -> str:
    """A model output of the reference seed, for the per-city maps and figures."""
    return fixed(pattern, seed=REFERENCE_SEED) if IS_STUDY else pattern


def every_city_and_scale(pattern: str) -> list:
    """``pattern`` for every city and scale of the study (the one otherwise)."""
    if not IS_STUDY:
        return [pattern]
    return expand(pattern, city=CITIES, scale=SCALES)


# The demo cities' files, written by rules/demo.smk in the real products' formats; their
# names are those of satcluster.demo (DEMO_FILE_NAMES), the one table of them.
N_DEMO_SCENES = config["demo"]["n_scenes"]
DEMO_OUTPUTS = demo_city_paths(DEMO_CITY_DIR, N_DEMO_SCENES)


def _demo_city_files(name: str):
    return demo_city_paths(DEMO_CITY_DIR.format(city=name), N_DEMO_SCENES)


def inputs_key(city: City) -> str:
    """Where the city's inputs are in the config, for messages: `cities.<name>.inputs` or `inputs`."""
    return f"cities.{city.name}.inputs" if IS_STUDY and config["cities"] else "inputs"


def _real_file(city: City, key: str) -> str:
    """Path under the city's `inputs` (dotted key); stop with a clear message if missing."""
    prefix = inputs_key(city)
    value = city.inputs
    for part in key.split("."):
        value = value[part]
    if value is None:
        raise WorkflowError(
            f"config: `{prefix}.{key}` is not set; give the path to your file "
            "(see config/accra.yaml) or use the demo city."
        )
    if not Path(value).is_file():
        raise WorkflowError(
            f"config: `{prefix}.{key}` points to {value}, which does not exist; fix the path."
        )
    return value


def scene_paths(city: City) -> dict:
    """Imagery scene name -> GeoTIFF path (or band files) of one city, in priority order."""
    if city.is_demo:
        return {path.stem: str(path) for path in _demo_city_files(city.name).imagery}
    key = f"{inputs_key(city)}.imagery"
    scenes = {}
    for pattern in city.inputs["imagery"]:
        if isinstance(pattern, dict):  # one scene as single-band files on one grid
            bands = {band: pattern[band] for band in ("red", "green", "blue")}
            missing = [path for path in bands.values() if not Path(path).is_file()]
            if missing:
                raise WorkflowError(
                    f"config: `{key}` band file(s) {', '.join(missing)} do not exist; fix the paths."
                )
            scenes[_new_scene_name(Path(bands["red"]).stem, scenes)] = bands
            continue
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        matches = [m for m in matches if Path(m).is_file()]
        if not matches:
            raise WorkflowError(
                f"config: `{key}` entry {pattern!r} matches no file; fix the path or glob."
            )
        for path in matches:
            scenes[_new_scene_name(Path(path).stem, scenes)] = path
    return scenes


def _new_scene_name(stem: str, scenes: dict) -> str:
    """The file's stem, with '_' appended until no earlier scene has it."""
    while stem in scenes:
        stem += "_"
    return stem


SCENES = {name: scene_paths(city) for name, city in STUDY.cities.items()}
SCENE_NAMES = sorted({scene for scenes in SCENES.values() for scene in scenes})


def city_scenes(wildcards) -> list:
    """The imagery scene names of a job's city, in priority order."""
    return list(SCENES[city_of(wildcards).name])


def scene_inputs(wildcards) -> dict:
    """The file(s) of imagery scene `{scene}`: {"scene": GeoTIFF} or {"red", "green", "blue"}."""
    scene = SCENES[city_of(wildcards).name][wildcards.scene]
    return dict(scene) if isinstance(scene, dict) else {"scene": scene}


def source_path(wildcards, name: str) -> str:
    """Input file of one covariate source or Landsat band: the demo's or the user's."""
    city = city_of(wildcards)
    if city.is_demo:
        return str(getattr(_demo_city_files(city.name), name))
    return _real_file(
        city, name.replace("landsat_", "landsat.").replace("sentinel2_", "sentinel2.")
    )


def demo_setting(name: str):
    """A job's demo city setting (seed, size_m, phenotype_shares, ...), for params."""
    return lambda wildcards: city_of(wildcards).demo[name]


def all_outputs() -> list:
    """Final targets: per city (and scale) the GeoJSON, figures and map; a study's comparisons."""
    targets = [
        *every_city_and_scale(rules.assemble_geojson.output.geojson),
        *figure_outputs(),
        *every_city_and_scale(rules.plot_web_map.output.html),
        *demo_evaluations(),
    ]
    return targets + (comparison_outputs() if IS_STUDY else [])


def demo_evaluations() -> list:
    """Phenotype agreement of every demo city (and scale): they have a planted truth."""
    pattern = rules.evaluate_phenotypes.output[0]
    if not IS_STUDY:
        return [pattern] if STUDY.demo_cities else []
    return expand(pattern, city=STUDY.demo_cities, scale=SCALES)


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
CONSENSUS_FIGURE_NAMES = ["cluster_confidence"]  # needs a consensus of several seeds


def figure_report(name: str, ext: str, figure: str, subcategory: str):
    """`<city dir>/figures/{name}.{ext}` marked for the report, captioned by report/{name}.rst."""
    return report(
        f"{CITY_DIR}/figures/{name}.{ext}",
        caption=f"../report/{name}.rst",
        category="{city}, {scale} px" if IS_STUDY else "Figures",
        subcategory=subcategory,
        labels={"figure": figure, "format": ext.upper()},
    )


def city_figure_names(city: City) -> list:
    """The figures of one city: covariate figures need a covariate source, the confidence
    figure a consensus, the phenotype figure the demo's planted truth."""
    names = [
        name
        for name in FIGURE_NAMES
        if active_sources(city) or name not in COVARIATE_FIGURE_NAMES
    ]
    names += CONSENSUS_FIGURE_NAMES if CONSENSUS else []
    return names + (DEMO_FIGURE_NAMES if city.is_demo else [])


def figure_outputs() -> list:
    """Every figure file of every city (and scale), PNG and PDF (maps are listed apart)."""
    outputs = []
    for city in STUDY.cities.values():
        files = [
            f"{CITY_DIR}/figures/{name}.{ext}"
            for name in city_figure_names(city)
            for ext in ("png", "pdf")
        ]
        outputs += expand(files, city=city.name, scale=SCALES) if IS_STUDY else files
    return outputs


# --- covariates stage ----------------------------------------------------------
def active_sources(city: City) -> list:
    """The covariate sources with input files (the others are absent from the GeoJSON)."""
    if city.is_demo:
        return list(COVARIATE_SOURCES)
    inputs = city.inputs
    configured = {
        "buildings": inputs["buildings"] is not None,
        "roads": inputs["roads"] is not None,
        "population": inputs["population"] is not None,
        "ndvi": ndvi_product(city) is not None,
    }
    return [source for source in COVARIATE_SOURCES if configured[source]]


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


def covariate_tables(wildcards) -> list:
    """The gathered table of every active covariate source of the job's city."""
    return expand(
        rules.gather_covariates.output.table,
        source=active_sources(city_of(wildcards)),
        **dict(wildcards.items()),
    )


def vector_sources(wildcards, name: str) -> list:
    """The file(s) of a vector source: the demo's, or the city's path, glob or list of them."""
    city = city_of(wildcards)
    if city.is_demo:
        return [source_path(wildcards, name)]
    prefix = inputs_key(city)
    if city.inputs[name] is None:
        _real_file(city, name)  # the message that the key is not set
    try:
        return expand_sources(city.inputs[name], f"{prefix}.{name}")
    except InputError as err:
        raise WorkflowError(str(err)) from None


def buildings_file(wildcards) -> list:
    """The building footprint file(s): the demo's or the city's `inputs.buildings`."""
    return vector_sources(wildcards, "buildings")


def roads_file(wildcards) -> list:
    """The OpenStreetMap file(s): the demo's or the city's `inputs.roads`."""
    return vector_sources(wildcards, "roads")


def population_file(wildcards) -> str:
    """The WorldPop population file: the demo's or the city's `inputs.population`."""
    return source_path(wildcards, "population")


LANDSAT_BANDS = ("red", "nir", "qa")
SENTINEL2_BANDS = ("red", "nir", "scl")


def ndvi_product(city: City) -> str | None:
    """ "landsat" or "sentinel2": the NDVI source of a city (the demo's is Landsat), or None."""
    if city.is_demo:
        return "landsat"
    landsat = all(city.inputs["landsat"][band] for band in LANDSAT_BANDS)
    sentinel2 = all(city.inputs["sentinel2"][band] for band in SENTINEL2_BANDS)
    if landsat and sentinel2:
        raise WorkflowError(
            f"config: city {city.name!r} gives both `inputs.landsat` and `inputs.sentinel2`; "
            "NDVI comes from one product: remove the other."
        )
    return "landsat" if landsat else "sentinel2" if sentinel2 else None


def ndvi_files(wildcards) -> dict:
    """Band -> file of the city's NDVI product: Landsat red/nir/qa or Sentinel-2 red/nir/scl."""
    product = ndvi_product(city_of(wildcards))
    bands = LANDSAT_BANDS if product == "landsat" else SENTINEL2_BANDS
    return {band: source_path(wildcards, f"{product}_{band}") for band in bands}


def boa_add_offset(wildcards):
    """The configured Sentinel-2 offset (used only without product metadata), or None."""
    city = city_of(wildcards)
    return None if city.is_demo else city.inputs["sentinel2"]["boa_add_offset"]


# --- deepcluster stage ---------------------------------------------------------------
def training_settings(wildcards) -> dict:
    """The deepcluster.* settings that can change the result, with the job's seed."""
    return {**result_settings(config["deepcluster"]), "seed": seed_of(wildcards)}


# --- study stage -------------------------------------------------------------------
COMPARISON = f"{RESULTS}/comparison"


def comparison_report(name: str, ext: str, figure: str, caption: str):
    """`results/comparison/figures/{name}.{ext}` for the report, captioned by report/{caption}.rst."""
    return report(
        f"{COMPARISON}/figures/{name}.{ext}",
        caption=f"../report/{caption}.rst",
        category="Comparison",
        labels={"figure": figure, "format": ext.upper()},
    )


def pooled_city_tiles(wildcards) -> list:
    """Every city's tiles.npy at the job's scale, in the order of `cities:`."""
    return expand(rules.gather_tiles.output.tiles, city=CITIES, scale=wildcards.scale)


def consensus_per_scale(name: str) -> list:
    """The consensus output ``name`` (labels, confidence) of every scale; none without one."""
    if not CONSENSUS:
        return []
    return expand(getattr(rules.consensus_clusters.output, name), scale=SCALES)


def comparison_outputs() -> list:
    """The comparison tables and figures of a study."""
    outputs = list(rules.compare_clusterings.output)
    outputs += expand(rules.plot_city_shares.output, scale=SCALES)
    if len(SEEDS) > 1:
        outputs += list(rules.plot_seed_agreement.output)
    if len(SCALES) > 1:
        outputs += expand(rules.plot_scale_sankey.output, city=CITIES)
    return outputs


# --- a run killed by SIGKILL (node failure, OOM killer, power loss) ---------------------
# Snakemake leaves its lock (.snakemake/locks) behind and refuses the next run until
# `snakemake --unlock`. Each run records which process holds its lock files (onstart:
# Snakemake has written them by then); a lock is released here, at parse time, only when
# every process of the run that holds it is gone (satcluster.stale_lock explains why that
# is safe), so rerunning the same command resumes the run.
from snakemake.logging import logger as _logger

from satcluster.stale_lock import record_lock_owner, release_stale_lock

_released = release_stale_lock()
if _released is not None:
    _logger.warning(_released)


onstart:
    # The lock files Snakemake wrote for this run (none with --nolock).
    record_lock_owner(getattr(workflow.persistence, "_lockfile", {}).values())
