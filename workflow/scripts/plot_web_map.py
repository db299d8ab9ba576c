"""Snakemake adapter: write the offline map of the clusters (map.html) and its map_files/."""

from satcluster.figures.web_map import write_web_map
from satcluster.runlog import setup_logging, timed, user_errors_exit

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "web_map"):
    write_web_map(
        snakemake.input.table,
        snakemake.input.tiles,
        snakemake.output.html,
        snakemake.params.ks,
        snakemake.params.final_k,
        snakemake.params.palette,
        snakemake.params.thumbnail_px,
        snakemake.params.max_thumbnails,
        snakemake.params.basemap,
        snakemake.params.low_confidence,
        files=snakemake.output.files,
    )
