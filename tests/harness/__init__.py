"""What the tests share besides fixtures, imported as ``tests.harness.<module>``.

pytest puts the repository root on the import path (``pythonpath`` in pyproject.toml), so
that test files in ``tests/unit/`` and ``tests/workflow/`` and the benchmarks import these
modules by one name. Fixtures live in the conftest.py files; a module here holds plain
functions and classes:

- ``workflow_dir``: a user's clone of the workflow in miniature (``WorkflowDir``) and the
  parsing of Snakemake's output (job tables, resources, rules and their stages);
- ``tiny_runs``: the tiny workflow or tiny study run once per session for every
  pytest-xdist worker (``run_once``, ``TinyRun``);
- ``demo_tiles``: square tiles over the demo city with the phenotype under each;
- ``figure_inputs``, ``web_map_inputs``: the small cluster tables the figure and web map
  tests draw (and the browser tests load in Chromium);
- ``web_map_checks``: what a written map.html holds, read back and checked;
- ``browser``: Debian's chromium and chromedriver for the browser tests;
- ``apt_packages``, ``slurm_cluster``: system packages, and a single-node SLURM cluster;
- ``zonal_reference``: the brute-force zonal mean (also used by benchmarks/covariates.py).
"""
