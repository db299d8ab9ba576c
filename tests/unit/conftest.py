"""The demo city of the covariate tests, generated once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory: pytest.TempPathFactory):
    """A 512 m demo city, generated once per session (the smallest with enough tiles of
    every phenotype for stable per-district means)."""
    from satcluster.demo import generate_demo_city

    return generate_demo_city(tmp_path_factory.mktemp("demo_city") / "demo", seed=7, size_m=512)
