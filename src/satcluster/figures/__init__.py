"""The paper's figures, one module per figure; every module has a ``draw_*`` entry point.

``draw_*`` functions read the workflow's files and write PNG/PDF; ``plot_*``
functions take plain arrays and return a Matplotlib Figure (no pyplot, so no
GUI backend and no global state). Colours come from ``palette.cluster_colors``
so that cluster i has the same colour in every figure and in the web map.
"""
