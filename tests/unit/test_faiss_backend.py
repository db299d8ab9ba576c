"""faiss from exactly one wheel: the `cpu` and `gpu` extras, and clear errors otherwise."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from satcluster.clustering import faiss_backend
from satcluster.clustering.faiss_backend import (
    CPU_WHEEL,
    FAISS_WHEELS,
    GPU_WHEEL,
    check_one_faiss,
    installed_faiss_wheels,
    load_faiss,
)
from satcluster.errors import InputError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_faiss():
    """load_faiss's cache emptied before and after the test."""
    load_faiss.cache_clear()
    yield
    load_faiss.cache_clear()


def test_this_environment_has_one_faiss_wheel():
    installed = installed_faiss_wheels()
    assert len(installed) == 1, installed
    assert load_faiss().Clustering is not None


def test_two_faiss_wheels_are_refused_with_the_repair_command():
    with pytest.raises(InputError) as err:
        check_one_faiss([CPU_WHEEL, GPU_WHEEL])
    message = str(err.value)
    assert "faiss-cpu, faiss-gpu-cu12" in message
    assert "pip uninstall -y faiss-cpu faiss-gpu-cu12 && pip install faiss-gpu-cu12" in message
    assert "make install FAISS=cpu|gpu" in message
    check_one_faiss([GPU_WHEEL])  # one is fine, so is none (the import then says what to do)
    check_one_faiss([])


def test_load_faiss_refuses_a_mixed_install(monkeypatch, fresh_faiss):
    monkeypatch.setattr(faiss_backend, "installed_faiss_wheels", lambda: [CPU_WHEEL, "faiss-gpu"])
    with pytest.raises(InputError, match="keep one: pip uninstall -y faiss-cpu faiss-gpu &&"):
        load_faiss()


def test_missing_faiss_names_the_extras(monkeypatch, fresh_faiss):
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` raises ImportError
    with pytest.raises(InputError) as err:
        load_faiss()
    assert "pip install -e '.[cpu]' (faiss-cpu)" in str(err.value)
    assert "pip install -e '.[gpu]' (faiss-gpu-cu12)" in str(err.value)


def test_kmeans_reports_a_missing_faiss_as_one_clear_error(monkeypatch, fresh_faiss):
    from satcluster.clustering.embedding import kmeans

    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(InputError, match="faiss cannot be imported"):
        kmeans(np.zeros((10, 2), np.float32), 2, seed=0)


def test_training_cli_without_faiss_exits_with_one_message(tmp_path):
    """The CLI as the workflow runs it, where `import faiss` fails: no traceback, exit 1."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "faiss.py").write_text("raise ImportError('no faiss in this environment')\n")
    tiles = tmp_path / "tiles.npy"
    np.save(tiles, np.zeros((8, 16, 16, 3), np.uint8))
    src = ROOT / "src"
    result = subprocess.run(
        [sys.executable, "-m", "satcluster.deepcluster", str(tiles), "--exp", str(tmp_path / "e"),
         "--arch", "small", "--k", "2", "--epochs", "1", "--gpus", "0", "--input_size", "none"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{blocker}:{src}", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "satcluster: error: faiss cannot be imported (no faiss in this environment)" in (
        result.stderr
    )
    assert not (tmp_path / "e" / "model.pt").exists()


def _extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _names(requirements: list[str]) -> set[str]:
    return {re.match(r"[A-Za-z0-9_.-]+", entry).group(0) for entry in requirements}


def test_pyproject_has_one_faiss_extra_for_the_cpu_and_one_for_the_gpu():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not _names(project["dependencies"]) & set(FAISS_WHEELS)  # faiss only in an extra
    assert _names(_extras()["cpu"]) == {CPU_WHEEL}
    assert _names(_extras()["gpu"]) == {GPU_WHEEL}


def test_make_install_removes_the_other_faiss_wheel_first():
    makefile = (ROOT / "Makefile").read_text()
    assert f"FAISS_WHEELS_cpu := {GPU_WHEEL}" in makefile
    assert f"FAISS_WHEELS_gpu := {CPU_WHEEL}" in makefile
    assert "pip install --quiet -c constraints.txt -e '.[$(FAISS),test]'" in makefile
