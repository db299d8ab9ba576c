"""Snakemake's lock left by a killed run: released only when every process of it is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from satcluster.stale_lock import LOCK_OWNER_PREFIX, record_lock_owner, release_stale_lock

# --- Snakemake's lock left by a killed run ---------------------------------------------------


def _lock(smk_dir: Path, n: int = 0) -> list[Path]:
    """Lock files as Snakemake writes them for one run."""
    locks = smk_dir / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    paths = [locks / f"{n}.input.lock", locks / f"{n}.output.lock"]
    for path in paths:
        path.write_text("results/tiles/tiles.npy\n")
    return paths


def _record_in_a_gone_process(smk_dir: Path, lock_files: list[Path]) -> None:
    """record_lock_owner called by a process (leading its own group) that then ends."""
    code = (
        "import sys; from satcluster.stale_lock import record_lock_owner; "
        "record_lock_owner(sys.argv[2:], sys.argv[1])"
    )
    args = [sys.executable, "-c", code, str(smk_dir), *map(str, lock_files)]
    subprocess.run(args, start_new_session=True, check=True, timeout=60)


def test_no_lock_nothing_to_release(tmp_path):
    assert release_stale_lock(tmp_path / ".snakemake") is None
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    assert release_stale_lock(tmp_path / ".snakemake") is None


def test_the_lock_of_a_killed_run_is_released(tmp_path):
    smk = tmp_path / ".snakemake"
    _record_in_a_gone_process(smk, _lock(smk))
    message = release_stale_lock(smk)
    assert message is not None and "removed the Snakemake lock" in message
    assert not (smk / "locks").exists()  # what `snakemake --unlock` leaves


def test_a_lock_without_owner_record_stays(tmp_path):
    smk = tmp_path / ".snakemake"
    _lock(smk)  # e.g. --no-hooks, or killed between locking and onstart
    assert release_stale_lock(smk) is None
    assert len(list((smk / "locks").iterdir())) == 2


def test_the_lock_of_a_live_run_stays(tmp_path):
    smk = tmp_path / ".snakemake"
    assert record_lock_owner(_lock(smk), smk) is not None  # this process: alive
    assert release_stale_lock(smk) is None
    assert (smk / "locks" / "0.input.lock").is_file()


def test_a_lock_file_no_record_names_keeps_the_lock(tmp_path):
    smk = tmp_path / ".snakemake"
    _record_in_a_gone_process(smk, _lock(smk, 0))
    _lock(smk, 1)  # another run's, which recorded nothing
    assert release_stale_lock(smk) is None


def test_a_survivor_in_the_killed_runs_process_group_keeps_the_lock(tmp_path):
    """Snakemake died but a job it started still runs (same process group): still locked."""
    smk = tmp_path / ".snakemake"
    lock_files = _lock(smk)
    code = (
        "import subprocess, sys; from satcluster.stale_lock import record_lock_owner; "
        "record_lock_owner(sys.argv[2:], sys.argv[1]); "
        "job = subprocess.Popen([sys.executable, '-c', 'import signal; signal.pause()']); "
        "print(job.pid, flush=True)"
    )
    leader = subprocess.Popen(
        [sys.executable, "-c", code, str(smk), *map(str, lock_files)],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    job_pid = int(leader.stdout.readline())
    leader.wait(timeout=60)  # the "Snakemake" process is gone, its job is not
    try:
        assert release_stale_lock(smk) is None
    finally:
        os.kill(job_pid, signal.SIGKILL)
    _wait_until_gone(job_pid)
    assert release_stale_lock(smk) is not None


def _wait_until_gone(pid: int, timeout_s: float = 30.0) -> None:
    """Poll until process ``pid`` has ended (or is a zombie)."""
    deadline = time.monotonic() + timeout_s
    stat = Path(f"/proc/{pid}/stat")
    while stat.is_file() and stat.read_text().rpartition(")")[2].split()[0] not in "ZX":
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} still runs after {timeout_s} s")
        time.sleep(0.01)


def _rewrite_record(smk: Path, **changes) -> None:
    (record_path,) = (smk / "locks").glob(f"{LOCK_OWNER_PREFIX}*.json")
    record_path.write_text(json.dumps({**json.loads(record_path.read_text()), **changes}))


def test_another_hosts_lock_stays(tmp_path):
    smk = tmp_path / ".snakemake"
    _record_in_a_gone_process(smk, _lock(smk))
    _rewrite_record(smk, host="login2.cluster")  # its processes cannot be seen from here
    assert release_stale_lock(smk) is None


@pytest.mark.skipif(not Path("/proc/sys/kernel/random/boot_id").is_file(), reason="not Linux")
def test_a_lock_from_before_a_restart_is_released(tmp_path):
    smk = tmp_path / ".snakemake"
    record_lock_owner(_lock(smk), smk)  # this process's pid, alive...
    _rewrite_record(smk, boot_id="another-boot")  # ...but recorded before a reboot
    assert release_stale_lock(smk) is not None


def test_an_unreadable_record_keeps_the_lock(tmp_path):
    smk = tmp_path / ".snakemake"
    _record_in_a_gone_process(smk, _lock(smk))
    (record_path,) = (smk / "locks").glob(f"{LOCK_OWNER_PREFIX}*.json")
    record_path.write_text("{not json")
    assert release_stale_lock(smk) is None


def test_no_lock_files_no_record(tmp_path):
    smk = tmp_path / ".snakemake"
    assert record_lock_owner([], smk) is None  # --nolock: nothing to own
    assert not (smk / "locks").exists()
