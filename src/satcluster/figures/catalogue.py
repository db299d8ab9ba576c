"""The catalogue of the per-city figures, and which of them a city gets.

Each name is a figure of ``satcluster.figures.<name>``, drawn by rule ``plot_<name>`` into
``<city dir>/figures/<name>.{png,pdf}``. Every city gets FIGURE_NAMES, less the covariate
figures when it has no covariate source; a consensus of several seeds adds its confidence
figure, and a demo city, whose phenotypes are known, the phenotype figure. (The maps and
the study's comparison figures are listed apart.)
"""

from __future__ import annotations

from satcluster.study.config import City
from satcluster.study.inputs import active_sources

__all__ = [
    "CONSENSUS_FIGURE_NAMES",
    "COVARIATE_FIGURE_NAMES",
    "DEMO_FIGURE_NAMES",
    "FIGURE_NAMES",
    "city_figure_names",
]

FIGURE_NAMES = (
    "cluster_map",
    "example_tiles",
    "cluster_shares",
    "cluster_sankey",
    "covariate_radar",
    "covariate_distributions",
    "embedding_pca",
    "centroid_distances",
    "training_curves",
)
COVARIATE_FIGURE_NAMES = ("covariate_radar", "covariate_distributions")  # need a covariate
DEMO_FIGURE_NAMES = ("phenotype_contingency",)  # needs the demo city's planted truth
CONSENSUS_FIGURE_NAMES = ("cluster_confidence",)  # needs a consensus of several seeds


def city_figure_names(city: City, consensus: bool) -> list[str]:
    """The figures of one city, in catalogue order: covariate figures need a covariate
    source, the confidence figure a consensus (``consensus``: the run combines several
    seeds), the phenotype figure the demo's planted truth.

    Raises InputError when the city's inputs give two NDVI products (active_sources).
    """
    has_covariates = bool(active_sources(city))
    names = [name for name in FIGURE_NAMES if has_covariates or name not in COVARIATE_FIGURE_NAMES]
    names += CONSENSUS_FIGURE_NAMES if consensus else ()
    return names + list(DEMO_FIGURE_NAMES if city.is_demo else ())
