"""Debian's chromium and chromedriver for the browser tests (tests/workflow/), and waiting
for a page's script to say that it is ready."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Headless, offline and quiet: what the browser fixture passes to Chromium.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=900,700",
)


def debian_root() -> str | None:
    """Why Chromium cannot be installed here, or None when it can."""
    if platform.system() != "Linux" or not Path("/etc/debian_version").exists():
        return "not Debian: install chromium and chromium-driver to run the browser tests"
    if os.geteuid() != 0:
        return "not root: `apt-get install chromium chromium-driver` to run the browser tests"
    return None


def wait_for(driver, script: str, timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}")
