"""The whole workflow on one GPU: a demo city of >= 10^4 tiles of 256 px, VGG16-BN at 224 px.

Run it through benchmarks/gpu/gpu_workflow.sh (which installs the wheels carried to the lent GPU
machine). It runs config/config.yaml's workflow with these overrides: a demo city of
102 x 102 tiles of 256 px (13,056 m at 0.5 m: 10,404 tiles), VGG16-BN + Sobel at 224 px,
batch 128, 2 epochs, on one GPU; then prints each rule's wall time and peak memory (from
its `benchmark:` file), the training log's epochs, and the total. It fails when a GPU was
expected and training ran on the CPU.

    python benchmarks/gpu/gpu_workflow.py [--compile] [--cores N]
    python benchmarks/gpu/gpu_workflow.py --check   # tiny CPU run (64 px, small net): checks it

The demo city (imagery painted on all cores) and everything but training are CPU work.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import pandas as pd

# The speed benchmarks' workflow runner and cost table (benchmarks/demo_workflow.py, scale.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from demo_workflow import run_demo_workflow  # noqa: E402
from scale import rule_costs  # noqa: E402

SIDE_TILES = 102  # 102^2 = 10,404 tiles
TILE_PX = 256
RESOLUTION_M = 0.5


def overrides(check: bool, compile_model: bool) -> dict:
    """Config on top of config/config.yaml: the GPU run, or the tiny CPU check."""
    if check:
        return {
            "demo": {"size_m": 12 * 32},
            "deepcluster": {"epochs": 1, "features_epoch": 1, "compile": compile_model},
        }
    return {
        "demo": {"size_m": SIDE_TILES * TILE_PX * RESOLUTION_M},
        "tiles": {"size_px": TILE_PX},
        "deepcluster": {
            "arch": "vgg16",
            "sobel": True,
            "input_size": 224,
            "batch": 128,
            "epochs": 2,
            "features_epoch": 2,
            "pca_dim": 256,
            "workers": 8,
            "gpus": 1,
            "compile": compile_model,
        },
    }


def training_lines(log: Path) -> list[str]:
    """The device and epoch lines of the training log."""
    keep = re.compile(r"training on|epoch \d+/\d+:|torch.cuda.device_count")
    return [line.rstrip() for line in log.read_text().splitlines() if keep.search(line)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/satcluster-gpu-workflow"))
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--compile", action="store_true", help="deepcluster.compile: true")
    parser.add_argument("--check", action="store_true", help="tiny CPU run of this script")
    args = parser.parse_args()
    import torch

    gpu = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if gpu else "no GPU"
    print(f"device: {device}; torch {torch.__version__}; {args.cores} cores", flush=True)
    if not gpu and not args.check:
        print("gpu_workflow: no GPU visible (use --check for the CPU check run)", file=sys.stderr)
        return 1
    options = ["--set-threads", f"demo_city={args.cores}"]
    start = time.perf_counter()
    wall = run_demo_workflow(
        args.workdir, overrides(args.check, args.compile), args.cores, (), options
    )
    costs = rule_costs(args.workdir / "results").sort_values("s", ascending=False)
    tiles = len(pd.read_parquet(args.workdir / "results" / "tiles" / "index.parquet"))
    print(f"\n{tiles} tiles of {TILE_PX if not args.check else 64} px")
    print(f"{'rule':<30}{'jobs':>5}{'s':>9}{'max RSS MB':>12}")
    for rule, row in costs.iterrows():
        print(f"{rule:<30}{row['jobs']:>5.0f}{row['s']:>9.1f}{row['max_rss_mb']:>12.0f}")
    lines = training_lines(args.workdir / "logs" / "deepcluster" / "train_deepcluster.log")
    print("\n".join(["", "training log:", *lines]))
    print(f"\ngpu_workflow: {tiles} tiles; workflow {wall:.0f} s wall "
          f"({time.perf_counter() - start:.0f} s with the tables); device {device}")  # fmt: skip
    on_gpu = any("training on" in line and "GPU(s)" in line for line in lines)
    if gpu and not on_gpu:
        print("gpu_workflow: training did not run on the GPU (see the log above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
