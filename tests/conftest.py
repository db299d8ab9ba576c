"""The order of the test files, across tests/unit/ and tests/workflow/.

Fixtures live beside their tests: tests/unit/conftest.py (the demo city of the covariate
tests), tests/workflow/conftest.py (the workflow copies and the tiny runs); what the tests
share besides fixtures is in tests/harness/.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest test files first: the SLURM run, the tiny study, the other workflow runs.

    `make test` hands whole files to its pytest-xdist workers in this order
    (`--dist loadfile --no-loadscope-reorder`), so that no long file starts last while the
    other workers are idle. A file keeps its own order of tests.
    """

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slurm"):
            return 0
        if "tiny_study_run" in item.fixturenames:
            return 1
        return 2 if item.get_closest_marker("slow") else 3

    file_rank: dict[Path, int] = {}
    for item in items:
        file_rank[item.path] = min(file_rank.get(item.path, 3), rank(item))
    items.sort(key=lambda item: file_rank[item.path])
