# The deepcluster stage's params: the settings that can change a model.
from satcluster.deepcluster.options import result_settings


def training_settings(wildcards) -> dict:
    """The deepcluster.* settings that can change the result, with the job's seed."""
    return {**result_settings(config["deepcluster"]), "seed": seed_of(wildcards)}
