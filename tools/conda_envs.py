"""Write the conda environment files from pyproject.toml, the one list of dependencies.

    python tools/conda_envs.py          # (re)write environment.yml and workflow/envs/satcluster.yaml
    python tools/conda_envs.py --check  # exit 1, naming the stale files, when they differ

`make deps` runs the first, `make lint` the second; tests/unit/test_dependencies.py checks the
same. What conda needs beyond pyproject.toml is in the tables below: conda-forge names that
differ from PyPI's, packages that conda-forge lacks (installed with pip), and packages only
the Snakemake driver needs (left out of the rules' environment).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

from packaging.requirements import Requirement

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/, when loaded by path
import generated_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"

PYTHON = "3.11"
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name, where they differ
PIP_ONLY = {"ausankey", "django-js-lib-leaflet"}  # not on conda-forge
DRIVER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm"}  # not needed inside rule jobs
NOTES = {
    "faiss-cpu": "or faiss-gpu on a GPU machine",
    "django-js-lib-leaflet": "only its leaflet.js/css files are used (offline map)",
}
# faiss is an extra (`cpu` or `gpu`, one of the two); the conda files take conda-forge's
# faiss-cpu, and a GPU machine swaps it for conda-forge's faiss-gpu (NOTES).
FAISS_EXTRA = "cpu"
# Version operators that mean the same to pip and conda.
CONDA_OPERATORS = {"==", "!=", "<=", ">=", "<", ">"}


@dataclass(frozen=True)
class EnvFile:
    """One conda environment file: where it lives and what it adds to the dependencies."""

    path: Path
    header: str
    name: str | None
    channels: tuple[str, ...]
    self_install: str  # the pip line that installs this package
    driver: bool  # whether the Snakemake driver (DRIVER_ONLY) is installed too


GENERATED = (
    "Generated from pyproject.toml by `make deps` (tools/conda_envs.py): edit that, not this."
)
ENV_FILES = (
    EnvFile(
        path=ROOT / "environment.yml",
        header=(
            "# Conda alternative to `make install` (pip into .venv).\n"
            "#   conda env create -f environment.yml && conda activate satcluster\n"
            f"# {GENERATED}\n"
        ),
        name="satcluster",
        channels=("conda-forge", "pytorch", "nodefaults"),
        self_install="-e .[test]",
        driver=True,
    ),
    EnvFile(
        path=ROOT / "workflow" / "envs" / "satcluster.yaml",
        header=(
            "# Conda environment of every rule, for `snakemake --software-deployment-method conda`.\n"
            "# The last pip line installs this library by name and version (pyproject.toml's), so\n"
            "# the file works wherever the workflow is deployed (a clone or a Snakemake module).\n"
            "# Until satcluster is on PyPI, build its wheel (`make wheel`) and point pip at it:\n"
            '#   export PIP_FIND_LINKS=<clone>/dist   (see docs/deployment.md, "Rule environments").\n'
            f"# {GENERATED}\n"
        ),
        name=None,
        channels=("conda-forge", "nodefaults"),
        self_install="satcluster=={version}",
        driver=False,
    ),
)


def dependencies(pyproject: Path = PYPROJECT) -> list[tuple[str, str]]:
    """(PyPI name, version specifier) of every `[project] dependencies` entry and of faiss."""
    project = tomllib.loads(pyproject.read_text())["project"]
    entries = project["dependencies"] + project.get("optional-dependencies", {}).get(
        FAISS_EXTRA, []
    )
    parsed = []
    for entry in entries:
        requirement = Requirement(entry)
        if requirement.marker or requirement.extras or requirement.url:
            raise SystemExit(f"{pyproject}: {entry!r}: markers, extras and URLs have no conda form")
        for specifier in requirement.specifier:
            if specifier.operator not in CONDA_OPERATORS:
                raise SystemExit(f"{pyproject}: {entry!r}: conda has no {specifier.operator!r}")
        # The specifier as written (packaging's own order is not stable), spaces removed.
        spec = re.sub(r"\s", "", entry)[len(requirement.name) :]
        parsed.append((requirement.name, spec))
    return parsed


def project_version(pyproject: Path = PYPROJECT) -> str:
    """The one version number: `[project] version` of pyproject.toml."""
    return tomllib.loads(pyproject.read_text())["project"]["version"]


def _line(text: str, note: str | None) -> str:
    return f"{text}  # {note}" if note else text


def render(env: EnvFile, deps: list[tuple[str, str]]) -> str:
    """The text of one environment file for the given (name, specifier) dependencies."""
    lines = [env.header.rstrip("\n")]
    if env.name:
        lines.append(f"name: {env.name}")
    lines.append("channels:")
    lines += [f"  - {channel}" for channel in env.channels]
    lines += ["dependencies:", f"  - python={PYTHON}"]
    pip = []
    for name, spec in deps:
        if name in DRIVER_ONLY and not env.driver:
            continue
        if name in PIP_ONLY:
            pip.append(_line(f"      - {name}{spec}", NOTES.get(name)))
        else:
            lines.append(_line(f"  - {CONDA_NAMES.get(name, name)}{spec}", NOTES.get(name)))
    self_install = env.self_install.format(version=project_version())
    lines += ["  - pip", "  - pip:", *pip, f"      - {self_install}"]
    return "\n".join(lines) + "\n"


def generated() -> dict[Path, str]:
    """Each environment file with the text pyproject.toml gives."""
    deps = dependencies()
    return {env.path: render(env, deps) for env in ENV_FILES}


def stale_files() -> list[Path]:
    """Environment files whose text differs from what pyproject.toml gives."""
    return generated_files.stale(generated())


def main(argv: list[str] | None = None) -> int:
    description = __doc__.splitlines()[0]
    return generated_files.main(argv, description, generated, "pyproject.toml", "deps")


if __name__ == "__main__":
    sys.exit(main())
