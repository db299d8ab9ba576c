"""Agreement of two labellings of the same tiles: NMI and ARI (scikit-learn).

``agreement`` scores clusters against a reference labelling (the demo city's planted
phenotypes, another seed's or another scale's clusters); tiles whose reference is
``NO_TRUTH`` are left out.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

__all__ = ["NO_TRUTH", "agreement"]

NO_TRUTH = -1  # the reference label of a tile that has none (e.g. touches no planted district)


def agreement(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """NMI and ARI of ``labels`` against ``truth`` over the tiles that have a truth."""
    has_truth = np.asarray(truth) != NO_TRUTH
    labels, truth = np.asarray(labels)[has_truth], np.asarray(truth)[has_truth]
    return {
        "nmi": float(normalized_mutual_info_score(truth, labels)),
        "ari": float(adjusted_rand_score(truth, labels)),
        "n_tiles": int(has_truth.sum()),
    }
