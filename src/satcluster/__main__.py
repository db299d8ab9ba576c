"""``python -m satcluster --version``: the installed library's version (pyproject.toml's)."""

from __future__ import annotations

import argparse

from satcluster import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m satcluster",
        description="satcluster library; run the workflow with snakemake, train with "
        "python -m satcluster.deepcluster.",
    )
    parser.add_argument("--version", action="version", version=f"satcluster {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
