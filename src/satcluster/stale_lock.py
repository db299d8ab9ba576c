"""The Snakemake lock left behind by a run that was killed, released when it is stale.

Used by workflow/rules/stale_lock.smk; reads and writes files under .snakemake/locks only (no
Snakemake import).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path

from satcluster.io import atomic_path

__all__ = ["LOCK_OWNER_PREFIX", "record_lock_owner", "release_stale_lock"]


# --- Snakemake's lock after a kill ----------------------------------------------------------
# Snakemake (9.x, file persistence) locks a working directory by writing the run's input and
# output paths to .snakemake/locks/<n>.input.lock and <n>.output.lock, and deletes the whole
# folder when the run ends. A run killed with SIGKILL (node failure, OOM killer, kill -9,
# power loss) never deletes it, and every later run on the same files stops with
# LockException until someone runs `snakemake --unlock`. The lock files do not say which
# process holds them, so Snakemake cannot tell a live lock from a stale one.
#
# We record it: when a run starts (onstart, after Snakemake wrote its lock files), a file
# beside them names the host, the process group of the Snakemake process and the lock files
# it wrote. When a run is parsed, the lock is released (the folder removed, exactly what
# --unlock does) only if every lock file is named by such a record and every recorded run
# is certainly gone: same host and PID namespace (or the host has rebooted since), and no
# live process left in its process group, so jobs it started that outlived it still count
# as running. In any doubt (no record, another host, unreadable record, a survivor) the lock
# stays and Snakemake's own message stands. A live run is never unlocked: locking still
# protects two concurrent runs from writing the same files.

LOCK_OWNER_PREFIX = "satcluster-owner-"
_LOCK_FILE = re.compile(r"^\d+\.(input|output)\.lock$")


def record_lock_owner(
    lock_files: Iterable[str | os.PathLike], snakemake_dir: str | os.PathLike = ".snakemake"
) -> Path | None:
    """Record that this process (its group) holds ``lock_files`` of ``snakemake_dir``/locks.

    Called from the workflow's ``onstart`` with the lock files Snakemake wrote for this run;
    nothing is written without lock files (``--nolock``). Returns the record's path.
    """
    names = sorted(Path(f).name for f in lock_files)
    if not names:
        return None
    host = socket.gethostname()
    record = {
        "host": host,
        "boot_id": _boot_id(),
        "pid_namespace": _pid_namespace(),
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "lock_files": names,
    }
    safe_host = re.sub(r"[^\w.-]", "_", host)
    path = Path(snakemake_dir) / "locks" / f"{LOCK_OWNER_PREFIX}{safe_host}-{os.getpid()}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record))
    return path


def release_stale_lock(snakemake_dir: str | os.PathLike = ".snakemake") -> str | None:
    """Remove ``snakemake_dir``/locks if the runs that hold it are certainly gone.

    Returns a message saying what was released, or None when nothing was (no lock, or a
    lock that may be live: see the comment above).
    """
    lock_dir = Path(snakemake_dir) / "locks"
    if not lock_dir.is_dir():
        return None
    lock_files = {p.name for p in lock_dir.iterdir() if _LOCK_FILE.match(p.name)}
    if not lock_files:
        return None
    records = _owner_records(lock_dir)
    if records is None:
        return None
    owned = {name for record in records for name in record["lock_files"]}
    if not lock_files <= owned or any(_may_be_running(record) for record in records):
        return None
    shutil.rmtree(lock_dir, ignore_errors=True)
    runs = ", ".join(f"pid {r['pid']} on {r['host']}" for r in records)
    return (
        f"satcluster: removed the Snakemake lock left in {lock_dir} by a run that was killed "
        f"({runs}; no process of it is left)."
    )


def _owner_records(lock_dir: Path) -> list[dict] | None:
    """The owner records in ``lock_dir``; None if one cannot be read (then keep the lock)."""
    records = []
    for path in sorted(lock_dir.glob(f"{LOCK_OWNER_PREFIX}*.json")):
        try:
            record = json.loads(path.read_text())
            record["lock_files"] = list(record["lock_files"])
            record["pid"], record["pgid"] = int(record["pid"]), int(record["pgid"])
        except (OSError, ValueError, TypeError, KeyError):
            return None
        records.append(record)
    return records


def _may_be_running(record: dict) -> bool:
    """False only if the recorded Snakemake run and every process of its group are gone."""
    if record.get("host") != socket.gethostname():
        return True  # another machine's processes cannot be seen from here
    boot_id = _boot_id()
    if boot_id is not None and record.get("boot_id") not in (None, boot_id):
        return False  # the machine restarted since: no process of that run survived it
    if record.get("pid_namespace") != _pid_namespace():
        return True  # another container: its process ids mean nothing here
    return _group_has_live_process(record["pgid"]) or _is_live(record["pid"])


def _group_has_live_process(pgid: int) -> bool:
    """Whether a process other than a zombie is left in process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel (it counts zombies as alive: safe side)
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields is not None and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _is_live(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    fields = _stat_fields(Path("/proc") / str(pid) / "stat")
    if fields is not None:
        return fields[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stat_fields(stat: Path) -> list[str] | None:
    """State, parent pid, process group... of /proc/<pid>/stat (None if it is gone)."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()  # the command name, in brackets, may hold spaces


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
