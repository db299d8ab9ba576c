"""What reruns when a user changes what, after a complete run of the tiny workflow.

Each test changes one thing in a private copy of the completed run (`completed_run`) and
asks Snakemake what it would run (`snakemake -n`, default rerun triggers: mtime, params,
input, code, software-env). The copy lives at another path than the original run, so a
"nothing to do" also proves that no rule's params hold a temporary path or a time.
Two real reruns check that the dry run tells the truth.
"""

from __future__ import annotations

from collections import Counter

import geopandas as gpd
import pytest

from tests.harness.workflow_dir import WorkflowDir, rule_scripts, rule_stages

pytestmark = pytest.mark.slow

EXPENSIVE = {"demo", "tiles", "deepcluster"}


# The rules that draw the maps from the per-city tables (split_city, assemble_geojson).
MAP_RULES = ("plot_cluster_map", "plot_web_map")


def stages(workdir: WorkflowDir, jobs: Counter) -> set[str]:
    """The stages (rule files) of the rules in a job table."""
    by_rule = rule_stages(workdir.path / "workflow")
    return {by_rule[rule] for rule in jobs}


def test_nothing_to_do_after_a_complete_run(completed_run: WorkflowDir):
    assert completed_run.planned_jobs() == Counter()


@pytest.mark.parametrize(
    ("setting", "only_rules"),
    [
        ({"dpi": 60}, None),
        ({"palette": "Set2"}, None),
        ({"example_tiles_per_cluster": 2}, {"plot_example_tiles"}),
        ({"map_thumbnail_px": 24}, {"plot_web_map"}),
    ],
)
def test_figure_setting_reruns_figures_only(completed_run: WorkflowDir, setting, only_rules):
    completed_run.update_config({"figures": setting})
    jobs = completed_run.planned_jobs()
    assert jobs, "a figure setting changed and nothing would be redrawn"
    assert stages(completed_run, jobs) == {"figures"}
    if only_rules is not None:
        assert set(jobs) == only_rules


@pytest.mark.parametrize(
    ("setting", "source_rules"),
    [
        ({"chunks": 3}, {"building_covariates", "road_covariates"}),
        ({"buildings_min_confidence": 0.5}, {"building_covariates"}),
        ({"major_road_classes": ["primary", "secondary"]}, {"road_covariates"}),
    ],
)
def test_covariate_setting_never_retiles_or_retrains(
    completed_run: WorkflowDir, setting, source_rules
):
    completed_run.update_config({"covariates": setting})
    jobs = completed_run.planned_jobs()
    assert (
        {"covariates", "assemble"}
        <= stages(completed_run, jobs)
        <= {
            "covariates",
            "assemble",
            "figures",
        }
    )
    assert source_rules <= set(jobs)
    if "chunks" not in setting:  # one source's setting recomputes that source only
        measuring = {r for r in jobs if r.endswith("_covariates") and r != "gather_covariates"}
        assert measuring == source_rules
        assert jobs["gather_covariates"] == 1


def test_clusters_ks_reclusters_without_retraining(completed_run: WorkflowDir):
    completed_run.update_config({"clusters": {"ks": [2, 3, 4]}})
    jobs = completed_run.planned_jobs()
    assert "cluster_tiles" in jobs and "assemble_geojson" in jobs
    assert stages(completed_run, jobs) <= {"clusters", "assemble", "figures"}


@pytest.mark.parametrize(
    "setting", [{"final_k": 2}, {"names": {"0": "a", "1": "b", "2": "c", "3": "d"}}]
)
def test_final_k_or_names_reassemble_without_reclustering(completed_run: WorkflowDir, setting):
    completed_run.update_config({"clusters": setting})
    jobs = completed_run.planned_jobs()
    assert "assemble_geojson" in jobs
    # labels.parquet holds every k in clusters.ks: picking another one needs no k-means.
    assert stages(completed_run, jobs) <= {"assemble", "figures"}


def test_deepcluster_setting_retrains_but_never_retiles(completed_run: WorkflowDir):
    completed_run.update_config({"deepcluster": {"lr": 0.02}})
    jobs = completed_run.planned_jobs()
    assert {"deepcluster", "clusters", "assemble", "figures"} <= stages(completed_run, jobs)
    assert not stages(completed_run, jobs) & {"demo", "tiles", "covariates"}


@pytest.mark.parametrize("setting", [{"workers": 2}, {"checkpoints": 7}, {"compile": True}])
def test_how_training_runs_never_retrains(completed_run: WorkflowDir, setting):
    """Threads, checkpoint frequency and kernels change how the job runs, not what it computes."""
    completed_run.update_config({"deepcluster": setting})
    assert completed_run.planned_jobs() == Counter()


def test_editing_a_figure_script_redraws_that_figure(completed_run: WorkflowDir):
    scripts = rule_scripts(completed_run.path / "workflow")
    script = scripts["plot_cluster_sankey"]
    script.write_text(script.read_text() + "\n# a cosmetic edit\n")
    users = {rule for rule, path in scripts.items() if path == script}
    assert completed_run.planned_jobs() == Counter(dict.fromkeys(users, 1))


def test_tile_size_reruns_everything_that_reads_tiles(completed_run: WorkflowDir):
    # What depends on tiling: every job downstream of it (`--forcerun` reruns those).
    downstream = completed_run.planned_jobs("--forcerun", "tile_scene")
    completed_run.update_config({"tiles": {"size_px": 32}})
    jobs = completed_run.planned_jobs()
    assert jobs == downstream
    expected = {"tiles", "deepcluster", "clusters", "covariates", "assemble", "figures"}
    assert stages(completed_run, jobs) == expected
    assert "demo_city" not in jobs  # the inputs stay


def test_real_rerun_after_figure_change_touches_that_figure_only(completed_run: WorkflowDir):
    before = completed_run.mtimes()
    completed_run.update_config({"figures": {"example_tiles_per_cluster": 2}})
    completed_run.snakemake()
    after = completed_run.mtimes()
    changed = {path for path in before if after.get(path) != before[path]}
    assert changed == {
        "results/figures/example_tiles.png",
        "results/figures/example_tiles.pdf",
        "results/benchmarks/figures/plot_example_tiles.tsv",  # the job's own cost record
    }
    assert completed_run.planned_jobs() == Counter()


def test_real_rerun_after_new_k_keeps_training_and_covariates(completed_run: WorkflowDir):
    kept = [
        p
        for p in completed_run.mtimes()
        if p.split("/")[1] in ("tiles", "deepcluster", "covariates")
    ]
    before = completed_run.mtimes()
    completed_run.update_config({"clusters": {"ks": [2, 3, 4]}})
    completed_run.snakemake()
    after = completed_run.mtimes()
    assert kept and all(after[p] == before[p] for p in kept)
    frame = gpd.read_parquet(completed_run.path / "results/cluster_shapefile.parquet")
    assert {"label_k2", "label_k3", "label_k4"} <= set(frame.columns)
    assert completed_run.planned_jobs() == Counter()


# --- a study: cities x scales x seeds ---------------------------------------------------------
def test_study_nothing_to_do_after_a_complete_run(completed_study: WorkflowDir):
    assert completed_study.planned_jobs() == Counter()


def test_study_new_seed_trains_that_seed_only(completed_study: WorkflowDir):
    config = completed_study.read_config()
    seeds, scales = config["deepcluster"]["seeds"], config["tiles"]["size_px"]
    completed_study.update_config({"deepcluster": {"seeds": [*seeds, 33]}})
    jobs = completed_study.planned_jobs()
    # one new model per scale; the consensus takes it in; every city's tiles untouched
    assert jobs["train_deepcluster"] == jobs["cluster_tiles"] == len(scales)
    assert jobs["label_cities"] == len(scales) and jobs["compare_clusterings"] == 1
    assert jobs["consensus_clusters"] == len(scales)
    assert not stages(completed_study, jobs) & {"demo", "tiles", "covariates"}


def test_study_new_seed_without_consensus_keeps_the_maps(completed_study: WorkflowDir):
    completed_study.update_config({"clusters": {"consensus": False}})
    # only the maps and what they read are brought up to date (the other figures would
    # take minutes and are not what this test is about)
    completed_study.snakemake("--until", *MAP_RULES)
    config = completed_study.read_config()
    completed_study.update_config({"deepcluster": {"seeds": [*config["deepcluster"]["seeds"], 33]}})
    jobs = completed_study.planned_jobs()
    assert jobs["train_deepcluster"] == len(config["tiles"]["size_px"])
    assert not stages(completed_study, jobs) & {"demo", "tiles", "covariates", "assemble"}
    assert not {"split_city", *MAP_RULES} & set(jobs)


def test_study_consensus_switch_redraws_the_maps_never_retraining(completed_study: WorkflowDir):
    completed_study.update_config({"clusters": {"consensus": False}})
    jobs = completed_study.planned_jobs()
    assert jobs["split_city"] and jobs["assemble_geojson"] and jobs["plot_cluster_map"]
    assert not stages(completed_study, jobs) & {*EXPENSIVE, "covariates"}
    assert "cluster_tiles" not in jobs and "consensus_clusters" not in jobs


def test_study_consensus_setting_reruns_the_consensus_never_retraining(
    completed_study: WorkflowDir,
):
    completed_study.update_config({"clusters": {"consensus_n_init": 3}})
    jobs = completed_study.planned_jobs()
    n_scales = len(completed_study.read_config()["tiles"]["size_px"])
    assert jobs["consensus_clusters"] == n_scales and jobs["assemble_geojson"]
    assert not stages(completed_study, jobs) & {*EXPENSIVE, "covariates"}
    assert "cluster_tiles" not in jobs


def test_study_low_confidence_redraws_the_maps_only(completed_study: WorkflowDir):
    completed_study.update_config({"figures": {"low_confidence": 0.9}})
    jobs = completed_study.planned_jobs()
    n_maps = len(completed_study.read_config()["cities"]) * 2  # two scales
    assert set(jobs) == {"plot_cluster_map", "plot_web_map", "plot_cluster_confidence"}
    assert set(jobs.values()) == {n_maps}


def test_study_new_scale_runs_that_scale_only(completed_study: WorkflowDir):
    config = completed_study.read_config()
    seeds, scales = config["deepcluster"]["seeds"], config["tiles"]["size_px"]
    cities = config["cities"]
    completed_study.update_config({"tiles": {"size_px": [*scales, 2 * scales[-1]]}})
    jobs = completed_study.planned_jobs()
    assert "demo_city" not in jobs and "road_lines" not in jobs
    assert jobs["gather_tiles"] == len(cities) and jobs["pool_tiles"] == 1
    assert jobs["train_deepcluster"] == len(seeds) and jobs["cluster_tiles"] == len(seeds)
    assert jobs["assemble_geojson"] == jobs["split_city"] == len(cities)
    assert jobs["plot_cluster_map"] == len(cities)


def test_study_new_city_tiles_that_city_only_and_retrains_the_pooled_models(
    completed_study: WorkflowDir,
):
    config = completed_study.read_config()
    seeds, scales = config["deepcluster"]["seeds"], config["tiles"]["size_px"]
    completed_study.update_config({"cities": {"kumasi": {"demo": {"seed": 9, "size_m": 256}}}})
    jobs = completed_study.planned_jobs()
    assert jobs["demo_city"] == 1 and jobs["road_lines"] == 1
    assert jobs["gather_tiles"] == len(scales)  # the new city's, at every scale
    assert jobs["train_deepcluster"] == len(scales) * len(seeds)  # pooled: every model


def test_study_figure_setting_redraws_figures_only(completed_study: WorkflowDir):
    completed_study.update_config({"figures": {"dpi": 60}})
    jobs = completed_study.planned_jobs()
    assert jobs and stages(completed_study, jobs) <= {"figures", "comparison"}
    assert all(rule.startswith("plot_") for rule in jobs)
