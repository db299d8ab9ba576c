# The run's final targets, for the Snakefile's default target; included last, since they
# name the outputs of every stage.


def all_outputs() -> list:
    """Final targets: per city (and scale) the GeoJSON, figures and map; a study's comparisons."""
    targets = [
        *every_city_and_scale(rules.assemble_geojson.output.geojson),
        *figure_outputs(),
        *every_city_and_scale(rules.plot_web_map.output.html),
        *demo_evaluations(),
    ]
    return targets + (comparison_outputs() if IS_STUDY else [])


def demo_evaluations() -> list:
    """Phenotype agreement of every demo city (and scale): they have a planted truth."""
    pattern = rules.evaluate_phenotypes.output[0]
    if not IS_STUDY:
        return [pattern] if STUDY.demo_cities else []
    return expand(pattern, city=STUDY.demo_cities, scale=SCALES)
