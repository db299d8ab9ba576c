# The tiling stage's inputs: each city's imagery scenes (satcluster.study.inputs) and,
# in a study, every city's tiles of one scale.
from satcluster.study.inputs import scene_paths

# Every city's imagery scenes: name -> GeoTIFF path or band files, in priority order;
# a path or glob that matches no file stops the run here, before any job.
with config_errors():
    SCENES = {name: scene_paths(inputs) for name, inputs in CITY_INPUTS.items()}
SCENE_NAMES = sorted({scene for scenes in SCENES.values() for scene in scenes})


def city_scenes(wildcards) -> list:
    """The imagery scene names of a job's city, in priority order."""
    return list(SCENES[city_of(wildcards).name])


def scene_inputs(wildcards) -> dict:
    """The file(s) of imagery scene `{scene}`: {"scene": GeoTIFF} or {"red", "green", "blue"}."""
    scene = SCENES[city_of(wildcards).name][wildcards.scene]
    return dict(scene) if isinstance(scene, dict) else {"scene": scene}


def pooled_city_tiles(wildcards) -> list:
    """Every city's tiles.npy at the job's scale, in the order of `cities:`."""
    return expand(rules.gather_tiles.output.tiles, city=CITIES, scale=wildcards.scale)
