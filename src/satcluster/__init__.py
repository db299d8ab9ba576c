"""satcluster: phenotyping cities from satellite imagery with DeepCluster.

The library behind the Snakemake workflow in ``workflow/``. Nothing here
imports Snakemake: scripts in ``workflow/scripts`` pass plain arguments.
"""

from satcluster.errors import InputError

__all__ = ["InputError"]
__version__ = "0.1.0"
