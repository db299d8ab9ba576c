#!/usr/bin/env bash
# One prepared check for a lent GPU machine (see BENCHMARKS.md): the GPU benchmark (eager vs
# --compile), the DeepCluster test files on the GPU, and 2-epoch VGG16-BN training runs
# through the CLI, eager and with --compile. Run from the repository root; faiss comes as a
# wheel (no internet there): .whl/faiss_cpu-*.whl, or the part of benchmarks/gpu/gpu_wheels.sh
# that holds it (carry that folder).
#   bash benchmarks/gpu/gpu_device_check.sh               # everything (about 9 minutes on an H200)
#   bash benchmarks/gpu/gpu_device_check.sh --train-only  # the training runs alone
set -uo pipefail
OUT="${OUT:-/tmp/gpu_out}"; mkdir -p "$OUT"
faiss_wheel=$(ls .whl/faiss*.whl .whl/part*/faiss*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$faiss_wheel" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$faiss_wheel" && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/device.txt"
if [ "${1:-}" != "--train-only" ]; then
    bash benchmarks/gpu/gpu.sh 2>&1 | tee "$OUT/gpu_bench.txt"
    timeout 200 python3 -m pytest -q -p no:cacheprovider tests/unit/test_deepcluster.py \
        tests/unit/test_deepcluster_compile.py tests/unit/test_faiss_backend.py 2>&1 \
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
for run in eager compile; do
    flag=$([ "$run" = compile ] && echo --compile || echo --no-compile)
    timeout 240 python3 -m satcluster.deepcluster /tmp/tiles.npy --arch vgg16 --sobel --k 16 \
        --lr 0.05 --batch 128 --epochs 2 --workers 4 --pca_dim 64 --exp "/tmp/exp_$run" \
        --checkpoints 20 "$flag" 2>&1 | tail -n 25 | tee "$OUT/gpu_train_$run.txt"
    cat "/tmp/exp_$run/training_log.csv" 2>/dev/null | tee -a "$OUT/gpu_train_$run.txt"
done
