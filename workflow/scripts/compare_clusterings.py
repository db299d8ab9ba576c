"""Snakemake adapter: the study's comparison tables (seeds, scales, city shares, stability)."""

from satcluster.runlog import setup_logging, timed, user_errors_exit
from satcluster.study.compare_clusterings import (
    ComparisonFiles,
    ConsensusFiles,
    compare_clusterings,
)

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "comparison"):
    p = snakemake.params
    # the inputs were expanded scale-major (then seed) and city-major (then scale)
    models = [(scale, seed) for scale in p.scales for seed in p.seeds]
    cities = [(city, scale) for city in p.cities for scale in p.scales]
    consensus = [  # empty without a consensus; else one per scale, in order
        ConsensusFiles(*files)
        for files in zip(
            snakemake.input.consensus_labels,
            snakemake.input.consensus_confidence,
            snakemake.input.pooled_indexes,
            strict=True,
        )
    ]
    compare_clusterings(
        dict(zip(models, snakemake.input.labels, strict=True)),
        dict(zip(cities, snakemake.input.indexes, strict=True)),
        list(p.ks),
        ComparisonFiles(
            **{name: snakemake.output[name] for name in ("seeds", "scales", "shares", "stability")}
        ),
        dict(zip(p.scales, consensus, strict=True)) if consensus else None,
    )
