# Config validation, path layout and wildcard accessors, shared by every stage.
# Rule files know paths and resources; the logic lives in src/satcluster. A stage's own
# helpers (input functions, params, report entries) are rules/helpers/<stage>.smk, included
# at the top of its rules/<stage>.smk (`snakemake --lint` wants no functions beside rules);
# the final targets are rules/targets.smk. At parse time a file uses only what the files
# included before it define, rules.<rule> included (tests/unit/test_smk_layout.py).
import re

from snakemake.exceptions import WorkflowError

import satcluster
from satcluster.config import check_unique_keys, validate_config
from satcluster.demo import demo_city_paths
from satcluster.errors import InputError
from satcluster.study.config import City, study_plan
from satcluster.study.inputs import CityInputs, city_inputs, job_city


class config_errors:
    """`with config_errors():` a mistake in the config (InputError) stops Snakemake with its
    message as a WorkflowError, not as a traceback of the library."""

    def __enter__(self):
        return self

    def __exit__(self, kind, err, traceback):
        if isinstance(err, InputError):
            raise WorkflowError(str(err)) from None
        return False


# Every workflow file is found relative to this file, never to the working directory or the
# main Snakefile: used as a module (issue 14), the main Snakefile is the user's.
CONFIG_SCHEMA = workflow.source_path("../schemas/config.schema.yaml")
with config_errors():
    for _configfile in workflow.configfiles:  # YAML keeps the last of two equal keys
        check_unique_keys(_configfile)
    validate_config(config, CONFIG_SCHEMA)
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

# --- study: cities x scales (tiling, covariates, maps), scales x seeds (training) ----------
# One city, one scale and one seed is no study: then no path has a wildcard and results/
# holds what it always held. A study puts each city and scale under
# results/<city>/<scale>px/ and each model under results/pooled/<scale>px/seed<seed>/.
with config_errors():
    STUDY = study_plan(config)
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

# The demo cities' files, written by rules/demo.smk in the real products' formats; their
# names are those of satcluster.demo (DEMO_FILE_NAMES), the one table of them.
N_DEMO_SCENES = config["demo"]["n_scenes"]
DEMO_OUTPUTS = demo_city_paths(DEMO_CITY_DIR, N_DEMO_SCENES)
# Where each city's input files come from: its config entry, or its demo folder
# (satcluster.study.inputs turns them into files; nothing is checked yet).
CITY_INPUTS = {
    name: city_inputs(city, config, DEMO_CITY_DIR.format(city=name))
    for name, city in STUDY.cities.items()
}


wildcard_constraints:
    city="|".join(re.escape(name) for name in CITIES),
    scale=r"\d+",
    seed=r"-?\d+",


def city_of(wildcards) -> City:
    """The city of a job (the only one outside a study)."""
    return job_city(STUDY, wildcards)


def inputs_of(wildcards) -> CityInputs:
    """Where the input files of a job's city come from."""
    return CITY_INPUTS[city_of(wildcards).name]


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
