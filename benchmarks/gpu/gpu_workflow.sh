#!/usr/bin/env bash
# The whole workflow on one lent GPU (H100/H200) in under 8 minutes: a demo city of 10,404
# tiles of 256 px, VGG16-BN + Sobel at 224 px, 2 epochs, then every stage's time
# (benchmarks/gpu/gpu_workflow.py). Run from the repository root.
#
# The lent H200's python3 (3.12, torch) lacks about 140 MB of the workflow's packages, and
# one call there carries at most 64 MiB: `bash benchmarks/gpu/gpu_wheels.sh` (here) splits them
# into .whl/part1..3, and three calls in a row each install the part they carry into
# /tmp/site, which stays while the machine is warm (30 s between calls):
#   run carry [.whl/part1]: bash benchmarks/gpu/gpu_workflow.sh --install-only
#   run carry [.whl/part2]: bash benchmarks/gpu/gpu_workflow.sh --install-only
#   run carry [.whl/part3]: bash benchmarks/gpu/gpu_workflow.sh [--compile]   (timeout_s 540)
# Elsewhere, with the project installed:  PYTHON=.venv/bin/python bash benchmarks/gpu/gpu_workflow.sh
# CPU check of the script (64 px, small net, a minute or two):  ... gpu_workflow.sh --check
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
SITE=/tmp/site
# the wheels are for Python 3.12 (the lent machine's); another Python leaves them alone
if "$PY" -c "import sys; sys.exit(sys.version_info[:2] != (3, 12))"; then
    parts=(.whl/part*)
else
    parts=()
fi
for part in "${parts[@]}"; do
    if ls "$part"/*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$SITE" "$part"/*.whl
        echo "installed $(ls "$part"/*.whl | wc -l) wheels of $part into $SITE"
    fi
done
if [ "${1:-}" = "--install-only" ]; then
    exit 0
fi
if [ -d "$SITE" ]; then
    export PYTHONPATH="src:$SITE${PYTHONPATH:+:$PYTHONPATH}" PATH="$SITE/bin:$PATH"
else
    export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
fi
missing=$("$PY" -c "
import importlib.util as u
names = 'rasterio pyogrio geopandas shapely pyproj exactextract momepy osmnx pyrosm faiss snakemake folium ausankey jsonschema'
print(' '.join(n for n in names.split() if u.find_spec(n) is None))")
if [ -n "$missing" ]; then
    echo "gpu_workflow.sh: $PY cannot import: $missing (install the wheels: see the top of this file)" >&2
    exit 1
fi
export PYTHONUNBUFFERED=1
exec timeout 500 "$PY" benchmarks/gpu/gpu_workflow.py "$@"
