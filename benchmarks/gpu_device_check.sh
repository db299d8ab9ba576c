#!/usr/bin/env bash
# One prepared check for a lent GPU machine (see BENCHMARKS.md): the GPU benchmark, the
# DeepCluster test file on the GPU, and a 2-epoch VGG16-BN training run through the CLI.
# Run from the repository root; faiss-cpu may come as a wheel in .whl/ (no internet there).
#   bash benchmarks/gpu_device_check.sh               # everything (about 6 minutes on an H200)
#   bash benchmarks/gpu_device_check.sh --train-only  # the training run alone
set -uo pipefail
OUT="${OUT:-/tmp/gpu_out}"; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/device.txt"
if [ "${1:-}" != "--train-only" ]; then
    bash benchmarks/gpu.sh 2>&1 | tee "$OUT/gpu_bench.txt"
    timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_deepcluster.py 2>&1 \
        | tail -n 15 | tee "$OUT/gpu_tests.txt"
fi
python3 - <<'PY'
import numpy as np
rng = np.random.default_rng(0)
tiles = np.lib.format.open_memmap("/tmp/tiles.npy", mode="w+", dtype=np.uint8, shape=(4096, 96, 96, 3))
for i in range(0, 4096, 512):
    base = rng.integers(0, 255, size=(512, 1, 1, 3), dtype=np.uint8)
    tiles[i:i + 512] = np.clip(base + rng.integers(0, 40, size=(512, 96, 96, 3)), 0, 255)
tiles.flush()
PY
timeout 200 python3 -m satcluster.deepcluster /tmp/tiles.npy --arch vgg16 --sobel --k 16 --lr 0.05 \
    --batch 128 --epochs 2 --workers 4 --pca_dim 64 --exp /tmp/exp --checkpoints 20 2>&1 \
    | tail -n 25 | tee "$OUT/gpu_train.txt"
cat /tmp/exp/training_log.csv 2>/dev/null | tee -a "$OUT/gpu_train.txt"
