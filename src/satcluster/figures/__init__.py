"""The paper's figures and the interactive map, one module per figure.

Each module is named after its figure: rule ``plot_<name>`` runs
``workflow/scripts/plot_<name>.py``, which calls ``draw_<name>`` (or, for the
map, ``write_web_map``) in ``satcluster.figures.<name>``. ``draw_*`` functions
read the workflow's files and write PNG/PDF; ``plot_*`` functions take plain
arrays and return a Matplotlib Figure (no pyplot, so no GUI backend and no
global state). ``common`` holds what the figures share (reading the cluster
table, the tile and embedding arrays, style, saving); colours come from
``palette.cluster_colors`` so that cluster i has the same colour in every
figure and in the web map, whose page script and style are ``assets/``.
"""
