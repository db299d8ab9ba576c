"""A study: several cities, spatial scales and DeepCluster seeds in one run, and their comparison.

``config`` reads the study from the config (``study_plan``: cities, scales, seeds);
``pooling`` pools the cities' tiles for one model per scale and seed and splits its results
back per city; ``comparison`` holds the measures (seeds against seeds, scales against
scales, cities side by side), ``stability`` each cluster's stability across seeds and
scales, and ``compare_clusterings`` is the comparison stage writing the tables of
``results/comparison/``. Import from the modules: the rule files import ``config`` at parse
time without loading the comparison's dependencies.
"""
