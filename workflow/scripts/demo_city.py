"""Snakemake adapter: generate a synthetic demo city under resources/demo/ (/<city>/ in a study)."""

from pathlib import Path

from satcluster.demo import demo_city_paths, generate_demo_city
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log):
    out_dir = Path(snakemake.output.truth).parent
    n_scenes = snakemake.params.n_scenes
    planned = sorted(str(p) for p in demo_city_paths(out_dir, n_scenes).files())
    declared = sorted(str(Path(p)) for p in snakemake.output)
    if planned != declared:  # the rule file and satcluster.demo disagree: a programming error
        raise RuntimeError(f"demo.smk outputs {declared} differ from satcluster.demo's {planned}")
    with timed(log, "demo city"):
        city = generate_demo_city(
            out_dir,
            seed=snakemake.params.seed,
            size_m=snakemake.params.size_m,
            resolution_m=snakemake.params.resolution_m,
            n_scenes=n_scenes,
            crs=snakemake.params.crs,
            phenotype_shares=snakemake.params.phenotype_shares,
            threads=snakemake.threads,
        )
    log.info("wrote %d files under %s", len(city.files()), out_dir)
