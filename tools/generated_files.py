"""The command line shared by the tools that write generated files (`make deps`, `make
settings-docs`): write the files whose text is stale, or with --check only name them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shown(path: Path) -> str:
    """``path`` relative to the repository root where it lies inside it."""
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def stale(files: dict[Path, str]) -> list[Path]:
    """The files of ``files`` (path -> wanted text) that are missing or hold other text."""
    return [path for path, text in files.items() if not path.is_file() or path.read_text() != text]


def main(
    argv: list[str] | None,
    description: str,
    generated: Callable[[], dict[Path, str]],
    source: str,
    target: str,
) -> int:
    """Write the stale files of ``generated()``; with --check name them and exit 1."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    files = generated()
    if args.check:
        for path in stale(files):
            print(f"{shown(path)} differs from {source}; run `make {target}`")
        return 1 if stale(files) else 0
    for path in stale(files):
        path.write_text(files[path])
        print(f"wrote {shown(path)}")
    return 0
