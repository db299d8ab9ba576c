"""Debian packages the tests install when missing (SLURM, Chromium), one apt-get at a time.

`make test` runs the test files on several pytest-xdist workers, and two of them may need
packages at once: apt-get fails at once on a dpkg lock another holds, so every install of
the session goes through one file lock (in the system's temporary folder, which every
worker shares).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from filelock import FileLock

LOCK = Path(tempfile.gettempdir()) / "satcluster-tests-apt.lock"


def apt_install(
    packages: list[str], timeout_s: float = 600, recommends: bool = False
) -> subprocess.CompletedProcess:
    """`apt-get install -y PACKAGES` (after `apt-get update` when the first try fails)."""
    extra = [] if recommends else ["--no-install-recommends"]
    install = ["apt-get", "install", "-y", "-qq", *extra, *packages]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)

    with FileLock(LOCK, timeout=timeout_s):
        result = apt_get(install)
        if result.returncode != 0:  # a fresh container has no package lists yet
            apt_get(["apt-get", "update"])
            result = apt_get(install)
    return result
