"""Snakemake adapter: the study's comparison tables (seeds, scales, city shares, stability)."""

from satcluster.runlog import setup_logging, timed, user_errors_exit
from satcluster.study_comparison import ComparisonFiles, compare_clusterings

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "comparison"):
    p = snakemake.params
    # the inputs were expanded scale-major (then seed) and city-major (then scale)
    models = [(scale, seed) for scale in p.scales for seed in p.seeds]
    cities = [(city, scale) for city in p.cities for scale in p.scales]
    compare_clusterings(
        dict(zip(models, snakemake.input.labels, strict=True)),
        dict(zip(cities, snakemake.input.indexes, strict=True)),
        list(p.ks),
        ComparisonFiles(
            **{name: snakemake.output[name] for name in ("seeds", "scales", "shares", "stability")}
        ),
    )
