# The assembly's inputs: the gathered table of every active covariate source.


def covariate_tables(wildcards) -> list:
    """The gathered table of every active covariate source of the job's city."""
    return expand(
        rules.gather_covariates.output.table,
        source=ACTIVE_SOURCES[city_of(wildcards).name],
        **dict(wildcards.items()),
    )
