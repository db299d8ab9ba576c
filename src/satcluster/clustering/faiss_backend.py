"""The faiss module, from whichever faiss wheel is installed: faiss-cpu or a GPU build.

faiss comes as several wheels that all install the same ``faiss`` package: ``faiss-cpu``
(the ``cpu`` extra, what ``make install`` installs) and GPU builds such as ``faiss-gpu-cu12``
(the ``gpu`` extra, ``make install FAISS=gpu``). Two of them in one environment overwrite
each other's files: faiss-cpu's ``_swigfaiss_avx2/avx512`` modules stay behind and are
loaded first, so faiss quietly runs on the CPU only. That mix is refused here, with the
command that repairs it. With a GPU build installed and a GPU visible, k-means and the
k-NN graph of PIC run on the GPU (``clustering.embedding``); without a GPU the same build
runs on the CPU, so CPU-only nodes of a cluster can share one environment with GPU nodes.

faiss is imported on first use, not when satcluster is imported, so that a missing or
mixed install is reported as one clear message by the scripts' error handler.
"""

from __future__ import annotations

import functools
from importlib import metadata
from types import ModuleType

from satcluster.errors import InputError

__all__ = [
    "CPU_WHEEL",
    "FAISS_WHEELS",
    "GPU_WHEEL",
    "installed_faiss_wheels",
    "load_faiss",
    "set_faiss_threads",
]

CPU_WHEEL = "faiss-cpu"
GPU_WHEEL = "faiss-gpu-cu12"  # the GPU wheel for CUDA 12 (the `gpu` extra)
# every PyPI distribution seen to install the `faiss` package
FAISS_WHEELS = (
    CPU_WHEEL,
    GPU_WHEEL,
    "faiss-gpu",
    "faiss-gpu-cu11",
    "faiss-gpu-cu12-cuvs",
    "faiss-gpu-cu13-cuvs",
    "faiss-gpu-cuvs",
    "faiss-cuda",
    "faiss",  # the 2019 PyPI wheel, and conda-forge builds
)
REINSTALL = (
    "pip uninstall -y {wheels} && pip install {keep} (or `make install FAISS=cpu|gpu`, "
    "which does both)"
)


def installed_faiss_wheels() -> list[str]:
    """Names of the faiss distributions installed in this environment."""
    found = []
    for name in FAISS_WHEELS:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def check_one_faiss(installed: list[str]) -> None:
    """InputError unless at most one faiss wheel is installed (they share one package)."""
    if len(installed) < 2:
        return
    keep = next((name for name in installed if name != CPU_WHEEL), installed[0])
    fix = REINSTALL.format(wheels=" ".join(installed), keep=keep)
    raise InputError(
        f"faiss is installed by {len(installed)} wheels ({', '.join(installed)}) that share "
        f"one `faiss` package, so one hides or overwrites the other; keep one: {fix}."
    )


@functools.cache
def load_faiss() -> ModuleType:
    """The faiss module; InputError naming the fix when it is missing or installed twice."""
    check_one_faiss(installed_faiss_wheels())
    try:
        import faiss as module
    except ImportError as err:
        raise InputError(
            f"faiss cannot be imported ({err}); install satcluster with one of its faiss "
            f"extras: pip install -e '.[cpu]' ({CPU_WHEEL}) or pip install -e '.[gpu]' "
            f"({GPU_WHEEL}), or run `make install`."
        ) from err
    return module


def set_faiss_threads(threads: int) -> None:
    """OpenMP threads of faiss's CPU code (k-means, PCA, search)."""
    load_faiss().omp_set_num_threads(int(threads))
