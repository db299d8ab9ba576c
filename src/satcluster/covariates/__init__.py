"""Per-tile covariates: one module per source, each ``<source>_covariates(tiles, ...) -> DataFrame``.

Every function takes the tile GeoDataFrame (index = tile_id, geometry in the
working CRS) and returns a DataFrame indexed by tile_id with one column per
measure, units in the column names. Reading files lives apart from measuring.
"""
