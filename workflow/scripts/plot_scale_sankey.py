"""Snakemake adapter: a city's tiles flowing from the finest scale's clusters to the coarsest's."""

import pandas as pd

from satcluster.figures.scale_sankey import draw_scale_sankey
from satcluster.runlog import setup_logging, timed, user_errors_exit
from satcluster.study.comparison import scale_flows

log = setup_logging(snakemake.log[0])
with user_errors_exit(log), timed(log, "scale_sankey"):
    p, i = snakemake.params, snakemake.input
    flows = scale_flows(
        pd.read_parquet(i.fine_index),
        pd.read_parquet(i.fine_labels),
        pd.read_parquet(i.coarse_index),
        pd.read_parquet(i.coarse_labels),
        p.coarse // p.fine,
        p.final_k,
    )
    draw_scale_sankey(
        flows,
        [snakemake.output.png, snakemake.output.pdf],
        f"{p.fine} px",
        f"{p.coarse} px",
        p.final_k,
        p.palette,
        p.dpi,
    )
