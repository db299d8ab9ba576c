"""Snakemake adapter: the cluster GeoJSON, its GeoParquet twin and suggested cluster names."""

from satcluster.assemble_geojson import assemble_geojson
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "assembly"):
    assemble_geojson(
        snakemake.input.index,
        snakemake.input.labels,
        list(snakemake.input.covariates),
        confidence_path=snakemake.input.confidence or None,  # [] without a consensus
        crs=snakemake.params.crs,
        final_k=snakemake.params.final_k,
        names=dict(snakemake.params.names),
        geojson_path=snakemake.output.geojson,
        parquet_path=snakemake.output.parquet,
        names_path=snakemake.output.names,
    )
