"""satcluster: phenotyping cities from satellite imagery with DeepCluster.

The library behind the Snakemake workflow in ``workflow/``. Nothing here
imports Snakemake: scripts in ``workflow/scripts`` pass plain arguments.
"""

from importlib.metadata import PackageNotFoundError, version

from satcluster.errors import InputError

__all__ = ["InputError", "__version__"]

# The one version number is pyproject.toml's; an installed package carries it in its metadata.
try:
    __version__ = version("satcluster")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
