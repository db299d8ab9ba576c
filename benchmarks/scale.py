"""Cost of every stage as the city grows: time and peak memory per rule at 10^4 .. 10^5 tiles.

Reproduce (repository root; about 25 minutes on an idle 2-core machine):

    make scale-benchmark          # = .venv/bin/python benchmarks/scale.py

Runs the whole workflow (config/config.yaml: the demo city, 64 px tiles of 32 m, one
training epoch) on demo cities of about 10^4, 3 x 10^4 and 10^5 tiles, each in its own
folder under ``--workdir``, and reads the cost every job recorded with Snakemake's
``benchmark:`` directive (``results/benchmarks/<the job's log path>.tsv``: wall seconds
and max RSS). Per rule it sums the seconds of its jobs (chunked rules run several) and
takes the largest max RSS of one job, then fits the growth exponent ``a`` of
time ~ tiles^a (least squares on log-log over the sizes). Rules whose largest time is
under ``--min-seconds`` are reported but left out of the maximum exponent: their time is
Python's start-up, whose exponent means nothing. At the largest size it also measures
``results/map.html`` (size, and first paint in headless Chromium, benchmarks/web_map.py).

The last line reads, exactly:
``scale: <largest N> tiles; max exponent <a> (<stage>); peak job memory <GB> GB (<stage>);
map.html <MB> MB``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from demo_workflow import run_demo_workflow

ROOT = Path(__file__).resolve().parents[1]
TILE_M = 32  # 64 px at 0.5 m (config/config.yaml)
SIZES = [10_000, 30_000, 100_000]


def city_side_m(n_tiles: int) -> int:
    """Side of a square demo city of about ``n_tiles`` tiles, a whole number of tiles."""
    return int(round(math.sqrt(n_tiles))) * TILE_M


def run_workflow(workdir: Path, n_tiles: int, cores: int) -> float:
    """The whole workflow on a demo city of about ``n_tiles`` tiles; its wall seconds."""
    overrides = {
        "demo": {"size_m": city_side_m(n_tiles)},
        "deepcluster": {"epochs": 1, "features_epoch": 1},
    }
    return run_demo_workflow(workdir, overrides, cores)


def rule_costs(results: Path) -> pd.DataFrame:
    """Per rule: jobs, summed wall seconds and the largest max RSS (MB) of one job."""
    tables = [pd.read_csv(p, sep="\t") for p in sorted((results / "benchmarks").rglob("*.tsv"))]
    # `rule_name`: written with --benchmark-extended (on in the workflow profile)
    rows = pd.concat(tables, ignore_index=True)
    rows["max_rss_mb"] = pd.to_numeric(rows["max_rss"], errors="coerce")  # "-": too short
    costs = rows.rename(columns={"rule_name": "rule"}).groupby("rule")
    return pd.DataFrame(
        {"jobs": costs.size(), "s": costs["s"].sum(), "max_rss_mb": costs["max_rss_mb"].max()}
    )


def n_tiles_of(results: Path) -> int:
    return len(pd.read_parquet(results / "tiles" / "index.parquet", columns=["tile_id"]))


def exponents(times: pd.DataFrame, tiles: list[int]) -> pd.Series:
    """Per rule (rows of ``times``, one column per size): slope of log time on log tiles."""
    x = np.log(np.asarray(tiles, dtype=float))
    slopes = {}
    for rule, row in times.iterrows():
        y = np.log(np.maximum(row.to_numpy(dtype=float), 1e-3))
        slopes[rule] = float(np.polyfit(x, y, 1)[0])
    return pd.Series(slopes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/satcluster-scale"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=5.0)
    args = parser.parse_args()
    tiles, times, memory = [], {}, {}
    for n in sorted(args.sizes):
        workdir = args.workdir / f"{n}"
        wall = run_workflow(workdir, n, args.cores)
        costs = rule_costs(workdir / "results")
        tiles.append(n_tiles_of(workdir / "results"))
        times[tiles[-1]], memory[tiles[-1]] = costs["s"], costs["max_rss_mb"]
        print(f"{tiles[-1]:>7} tiles: workflow {wall:.0f} s wall, {len(costs)} rules", flush=True)
    times_table, memory_table = pd.DataFrame(times), pd.DataFrame(memory)
    slopes = exponents(times_table.fillna(0), tiles)
    timed = times_table.max(axis=1) >= args.min_seconds
    print_table(times_table, memory_table, slopes, timed)

    largest = tiles[-1]
    fitted = slopes[timed]
    worst = fitted.idxmax() if len(fitted) else "none"
    peak = memory_table[largest]
    html = args.workdir / f"{sorted(args.sizes)[-1]}" / "results" / "map.html"
    page = map_numbers(html)
    print(
        f"scale: {largest} tiles; max exponent {fitted.max() if len(fitted) else float('nan'):.2f} "
        f"({worst}); peak job memory {peak.max() / 1024:.2f} GB ({peak.idxmax()}); "
        f"map.html {page['page_mb']:.1f} MB"
    )


def print_table(
    times: pd.DataFrame, memory: pd.DataFrame, slopes: pd.Series, timed: pd.Series
) -> None:
    """Seconds and peak MB per rule and size, and the exponent (in brackets: start-up bound)."""
    sizes = list(times.columns)
    header = "".join(f"{f'{n} s':>12}{'MB':>8}" for n in sizes)
    print(f"\n{'rule':<28}{header}{'exponent':>10}")
    order = times[sizes[-1]].sort_values(ascending=False).index
    for rule in order:
        cells = "".join(f"{times.at[rule, n]:>12.1f}{memory.at[rule, n]:>8.0f}" for n in sizes)
        exponent = f"{slopes[rule]:.2f}" if timed[rule] else f"({slopes[rule]:.2f})"
        print(f"{rule:<28}{cells}{exponent:>10}")


def map_numbers(html: Path) -> dict:
    """The map page's size and, when Chromium is there, its first paint (benchmarks/web_map)."""
    numbers = {"page_mb": html.stat().st_size / 1e6}
    try:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from web_map import measure_map

        numbers = measure_map(html)
        print(
            f"map.html: {numbers['page_mb']:.1f} MB, files beside it {numbers['files_mb']:.1f} MB, "
            f"first paint {numbers['first_paint_s']:.2f} s (headless Chromium)"
        )
    except (ImportError, OSError) as err:
        print(f"map.html: {numbers['page_mb']:.1f} MB (no first paint: {err})")
    return numbers


if __name__ == "__main__":
    main()
