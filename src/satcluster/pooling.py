"""``pool_tiles`` under its old name, for workflow/scripts/pool_tiles.py only.

Snakemake reruns a script rule whose script file is newer than its outputs, and a rerun of
``pool_tiles`` rewrites the pooled ``tiles.npy`` that every study model trains on: an edit
of that script, even of an import line, retrains every model of every study (days of GPU
time) on the next run. So the script keeps its text, and this alias stays. The code lives
in ``satcluster.study.pooling``.
"""

from satcluster.study.pooling import pool_tiles

__all__ = ["pool_tiles"]
