# The demo stage's params: a job's demo city settings.


def demo_setting(name: str):
    """A job's demo city setting (seed, size_m, phenotype_shares, ...), for params."""
    return lambda wildcards: city_of(wildcards).demo[name]
