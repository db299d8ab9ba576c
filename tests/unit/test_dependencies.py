"""pyproject.toml lists the dependencies once; the conda environment files follow it.

environment.yml and workflow/envs/satcluster.yaml are written by tools/conda_envs.py
(`make deps`); these tests fail when someone edits one list and not the others.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def _load_tool():
    spec = importlib.util.spec_from_file_location("conda_envs", ROOT / "tools" / "conda_envs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


conda_envs = _load_tool()
ENV_FILES = {env.path.relative_to(ROOT).as_posix(): env for env in conda_envs.ENV_FILES}


def _listed(path: Path) -> tuple[dict[str, str], list[str]]:
    """(conda name -> version spec, pip lines) of one environment file."""
    conda, pip = {}, []
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        if isinstance(entry, dict):
            pip += entry["pip"]
            continue
        name, spec = re.match(r"([A-Za-z0-9_.-]+)(.*)", entry).groups()
        conda[name] = spec
    return conda, pip


def test_environment_files_are_generated_from_pyproject():
    stale = [str(path.relative_to(ROOT)) for path in conda_envs.stale_files()]
    assert not stale, f"{stale} differ from pyproject.toml: run `make deps` and commit the result"


@pytest.mark.parametrize("relative", sorted(ENV_FILES))
def test_same_packages_and_bounds_as_pyproject(relative):
    env = ENV_FILES[relative]
    conda, pip = _listed(ROOT / relative)
    wanted = {
        name: spec
        for name, spec in conda_envs.dependencies()
        if env.driver or name not in conda_envs.DRIVER_ONLY
    }
    pip_specs = dict(re.match(r"([A-Za-z0-9_.-]+)(.*)", line).groups() for line in pip[:-1])
    for name, spec in wanted.items():
        listed = pip_specs if name in conda_envs.PIP_ONLY else conda
        assert listed.get(conda_envs.CONDA_NAMES.get(name, name)) == spec, name
    extra = set(conda) - {conda_envs.CONDA_NAMES.get(n, n) for n in wanted} - {"python", "pip"}
    assert not extra, f"{relative} lists {sorted(extra)}, which pyproject.toml does not"
    assert set(pip_specs) == set(wanted) & conda_envs.PIP_ONLY


def test_conda_files_install_the_package_itself_with_pip():
    _, pip = _listed(ROOT / "environment.yml")
    assert pip[-1] == "-e .[test]"  # the test extras come with the package
    _, pip = _listed(ROOT / "workflow" / "envs" / "satcluster.yaml")
    # by name and version, not a path: the rules' environment must work in a module deployment,
    # where no clone lies around the file (issue 14)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert pip[-1] == f"satcluster=={version}"
    rules_conda, _ = _listed(ROOT / "workflow" / "envs" / "satcluster.yaml")
    assert not set(rules_conda) & conda_envs.DRIVER_ONLY  # jobs do not run Snakemake itself


def test_check_names_the_stale_file_and_the_fix(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "environment.yml"
    copy.write_text((ROOT / "environment.yml").read_text().replace("numpy>=1.26", "numpy>=1.0"))
    env = ENV_FILES["environment.yml"]
    monkeypatch.setattr(conda_envs, "ROOT", tmp_path)
    monkeypatch.setattr(conda_envs, "ENV_FILES", (dataclasses.replace(env, path=copy),))
    assert conda_envs.main(["--check"]) == 1
    assert "environment.yml differs from pyproject.toml; run `make deps`" in capsys.readouterr().out
    assert conda_envs.main([]) == 0
    assert "numpy>=1.26" in copy.read_text()
    assert conda_envs.main(["--check"]) == 0


def test_unsupported_specifiers_are_refused(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["numpy~=1.26"]\n')
    with pytest.raises(SystemExit, match="conda has no '~='"):
        conda_envs.dependencies(pyproject)
    pyproject.write_text("[project]\ndependencies = [\"numpy>=1.26; python_version<'3.12'\"]\n")
    with pytest.raises(SystemExit, match="markers"):
        conda_envs.dependencies(pyproject)


def test_no_upper_pins_and_ci_versions_in_the_constraints_file():
    """Users can install satcluster beside a newer torch; CI installs the tested set."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    capped = [d for d in deps if re.search(r"<|~=|==", d)]
    assert not capped, f"upper pins in [project.dependencies]: {capped}; pin in constraints.txt"
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for name in ("torch", "torchvision", "numpy", "rasterio", "snakemake"):
        assert name in pins, f"constraints.txt does not pin {name}: run `make constraints`"
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
