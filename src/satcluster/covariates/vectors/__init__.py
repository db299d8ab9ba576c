"""Reading the vector sources of the covariates (buildings, roads), file by file or in sets.

``sources`` turns a configured source (a path, a glob or a list of them) into files and
formats bounds for messages; ``io`` reads GeoPackage, GeoParquet, (line-delimited)
GeoJSON, OSM and anything else GDAL reads, cut to the tiles' bounds; ``csv`` streams CSV
files whose geometry column holds WKT (Google Open Buildings).
"""
