"""The demo rule as Snakemake reads it: common.smk builds its outputs (DEMO_FILES) from
satcluster.demo, so that the rule writes the paths the package names (a dry run)."""

from __future__ import annotations

import re

from satcluster import demo


def test_workflow_demo_files_are_the_packages(workflow_dir):
    """common.smk builds DEMO_FILES from satcluster.demo: the demo rule writes those paths."""
    result = workflow_dir.snakemake("--dry-run")
    output = result.stdout + result.stderr
    declared = re.search(r"^rule demo_city:\n\s+output: (.*)$", output, re.MULTILINE).group(1)
    n_scenes = workflow_dir.read_config()["demo"]["n_scenes"]
    planned = demo.demo_city_paths("resources/demo", n_scenes).files()
    assert sorted(declared.split(", ")) == sorted(str(path) for path in planned)
