"""A throw-away single-node SLURM cluster with six fake GPUs, for the workflow tests.

`start_cluster()` installs Debian's SLURM packages when they are missing (root only),
starts munged, slurmctld and slurmd on free ports with their state, logs and pid files
under a fresh directory, and returns a `SlurmCluster`; `SlurmCluster.stop()` cancels the
jobs, stops the three daemons by the PIDs in their pid files and removes its files.
slurm.conf and gres.conf go to /etc/slurm/ (SLURM's default place) because Snakemake's
job step drops every SLURM_* variable, SLURM_CONF included, before it calls srun; a
config there that this module did not write is never touched (the cluster is then
unavailable, with that reason).
The fake GPUs are six /dev/tty devices declared as `gpu` GRES, which is enough for
SLURM to allocate them and to set CUDA_VISIBLE_DEVICES in a job (see
shared/reference/slurm-local.md).
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.harness.apt_packages import apt_install

PACKAGES = ["munge", "slurmctld", "slurmd", "slurm-client"]
DAEMONS = ["munged", "slurmctld", "slurmd"]
N_FAKE_GPUS = 6
# What the node declares, whatever the machine has: enough for every job of the project's
# profile (training asks for 12 CPUs and 72 GB) to be scheduled, and for the two training
# jobs of a two-seed study (72 GB each) to run at once. Nothing enforces the limits here
# (no cgroups), so the few real cores and the real memory are simply shared.
NODE_CPUS = 32
NODE_MEMORY_MB = 256_000
PARTITION = "main"
SYSTEM_CONF_DIR = Path("/etc/slurm")
# First line of the configs written here; it names the state folder of the cluster.
MARKER = "# satcluster test cluster, state in "
STATE_PREFIX = "satcluster-slurm-"


class SlurmUnavailable(Exception):
    """SLURM cannot run on this machine (not root, not Debian, no packages); the message says why."""


@dataclass
class SlurmCluster:
    """A running local cluster: its state folder, config file and daemon pid files."""

    root: Path
    conf: Path = SYSTEM_CONF_DIR / "slurm.conf"
    pid_files: dict[str, Path] = field(default_factory=dict)
    lock: IO | None = None

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for the clients (sbatch, squeue, snakemake) of this cluster."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        return env

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster and return its result."""
        return subprocess.run(
            list(args), env=self.env(), capture_output=True, text=True, timeout=timeout
        )

    @property
    def jobcomp_log(self) -> Path:
        """One line per finished job (jobcomp/filetxt): JobId, Name, JobState, Tres, ..."""
        return self.root / "log" / "jobcomp.log"

    def finished_jobs(self) -> list[dict[str, str]]:
        """Records of the jobs that ended, parsed from the jobcomp log (no sacct here)."""
        if not self.jobcomp_log.is_file():
            return []
        return [_parse_jobcomp(line) for line in self.jobcomp_log.read_text().splitlines() if line]

    def stop(self) -> None:
        """Cancel every job, stop slurmd, slurmctld and munged by their PIDs, remove all files."""
        if _alive_from(self.pid_files.get("slurmctld")):
            self.run("scancel", "--user", _user_name())
        _stop_daemons(self.pid_files)
        _remove_our_configs()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.lock is not None:
            self.lock.close()  # releases the flock
            self.lock = None


def _user_name() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def _parse_jobcomp(line: str) -> dict[str, str]:
    """`Key=value Key=value` -> dict (the values we read hold no spaces)."""
    record = {}
    for item in line.split():
        key, sep, value = item.partition("=")
        if sep:
            record[key] = value
    return record


def _pid_files(root: Path) -> dict[str, Path]:
    return {
        "munged": root / "munge" / "munged.pid",
        "slurmctld": root / "slurmctld.pid",
        "slurmd": root / "slurmd.pid",
    }


def _stop_daemons(pid_files: dict[str, Path]) -> None:
    for daemon in reversed(DAEMONS):  # slurmd first, munged last
        if daemon in pid_files:
            _stop_pid(pid_files[daemon])


def _read_pid(pid_file: Path | None) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (AttributeError, OSError, ValueError):
        return None


def _alive_from(pid_file: Path | None) -> bool:
    pid = _read_pid(pid_file)
    return pid is not None and _alive(pid)


def _stop_pid(pid_file: Path, grace_s: float = 10) -> None:
    """SIGTERM the process named in pid_file, SIGKILL it if it outlives grace_s."""
    pid = _read_pid(pid_file)
    if pid is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    """True while pid runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_installed(timeout_s: float = 600) -> None:
    """Install munge and SLURM with apt-get if missing; SlurmUnavailable if we cannot."""
    if all(shutil.which(name) for name in ("munged", "slurmctld", "slurmd", "sbatch", "squeue")):
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable("SLURM is not installed and installing it needs root")
    if not Path("/etc/debian_version").is_file() or shutil.which("apt-get") is None:
        raise SlurmUnavailable("SLURM is not installed and this is not Debian (no apt-get)")
    result = apt_install(PACKAGES, timeout_s)
    if result.returncode != 0:
        raise SlurmUnavailable(
            f"apt-get install {' '.join(PACKAGES)} failed: {result.stderr[-500:]}"
        )


def _config_files() -> list[Path]:
    return [SYSTEM_CONF_DIR / "slurm.conf", SYSTEM_CONF_DIR / "gres.conf"]


def _our_state_dir(config: Path) -> Path | None:
    """State folder named by a config this module wrote; None for anyone else's config."""
    try:
        first = config.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return Path(first.removeprefix(MARKER)) if first.startswith(MARKER) else None


def _remove_our_configs() -> None:
    for config in _config_files():
        if _our_state_dir(config) is not None:
            config.unlink()


def _clear_stale_cluster() -> None:
    """Stop a test cluster left behind by a killed test run; refuse to touch a real config."""
    for config in _config_files():
        if not config.exists():
            continue
        stale = _our_state_dir(config)
        if stale is None:
            raise SlurmUnavailable(
                f"{config} exists and was not written by the tests; "
                "the test cluster does not overwrite a real SLURM configuration"
            )
        _stop_daemons(_pid_files(stale))
        config.unlink()
        if stale.name.startswith(STATE_PREFIX):
            shutil.rmtree(stale, ignore_errors=True)


def write_config(root: Path, munge_socket: Path) -> Path:
    """slurm.conf + gres.conf: one node with NODE_CPUS CPUs, NODE_MEMORY_MB and six fake GPUs."""
    host = socket.gethostname().split(".")[0]
    state, spool, log = root / "state", root / "spool", root / "log"
    for folder in (state, spool, log):
        folder.mkdir(parents=True, exist_ok=True)
    pid_files = _pid_files(root)
    slurm_conf, gres_conf = _config_files()
    slurm_conf.write_text(
        "\n".join(
            [
                f"{MARKER}{root}",
                "ClusterName=satcluster-test",
                f"SlurmctldHost={host}(127.0.0.1)",  # no need for the host name to resolve
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={munge_socket}",
                f"StateSaveLocation={state}",
                f"SlurmdSpoolDir={spool}",
                f"SlurmctldPidFile={pid_files['slurmctld']}",
                f"SlurmdPidFile={pid_files['slurmd']}",
                f"SlurmctldLogFile={log / 'slurmctld.log'}",
                f"SlurmdLogFile={log / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SwitchType=switch/none",
                "MpiDefault=none",
                "MailProg=/bin/true",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                # Without a default, every job takes the whole node and jobs run one by one.
                "DefMemPerCPU=1000",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                # No sacct here: finished jobs are recorded in a text file instead.
                "JobCompType=jobcomp/filetxt",
                f"JobCompLoc={log / 'jobcomp.log'}",
                "ReturnToService=2",
                # Accept a node declared bigger than the machine instead of draining it.
                "SlurmdParameters=config_overrides",
                "GresTypes=gpu",
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} "
                f"Gres=gpu:{N_FAKE_GPUS} State=UNKNOWN",
                f"PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    # `Count=` without `File=` drains the node; tty devices stand in for GPUs.
    gres_conf.write_text(
        f"{MARKER}{root}\n"
        f"AutoDetect=off\nNodeName={host} Name=gpu File=/dev/tty[0-{N_FAKE_GPUS - 1}]\n"
    )
    return slurm_conf


def _start_munged(root: Path) -> Path:
    """Start a private munged (as the munge user) on its own socket; return the socket."""
    folder = root / "munge"
    folder.mkdir(mode=0o755)  # munged wants the socket folder searchable by all
    shutil.chown(folder, "munge", "munge")
    sock = folder / "munge.socket"
    command = [
        "runuser", "-u", "munge", "--", "munged",
        f"--socket={sock}", f"--pid-file={_pid_files(root)['munged']}",
        f"--log-file={folder / 'munged.log'}", f"--seed-file={folder / 'munged.seed'}",
    ]  # fmt: skip
    _check_call(command, "munged")
    return sock


def _check_call(command: list[str], name: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{name} did not start: {result.stdout}{result.stderr}")


def _wait_idle(cluster: SlurmCluster, timeout_s: float = 30) -> None:
    """Wait until the node reports idle; RuntimeError with the daemon logs otherwise."""
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        state = cluster.run("sinfo", "-h", "-o", "%T").stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    logs = "\n".join(
        path.read_text()[-2000:] for path in sorted((cluster.root / "log").glob("*.log"))
    )
    raise RuntimeError(f"SLURM node is {state!r}, not idle, after {timeout_s} s:\n{logs}")


def _take_lock() -> IO:
    """One test cluster per machine: an exclusive lock held until stop()."""
    lock = open(Path(tempfile.gettempdir()) / "satcluster-slurm-test.lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RuntimeError("another satcluster test cluster is running on this machine") from None
    return lock


def start_cluster() -> SlurmCluster:
    """Install if needed and start a single-node cluster; SlurmUnavailable if impossible here."""
    if os.geteuid() != 0:
        raise SlurmUnavailable("starting SLURM daemons needs root")
    ensure_installed()
    SYSTEM_CONF_DIR.mkdir(parents=True, exist_ok=True)
    lock = _take_lock()
    try:
        _clear_stale_cluster()
    except BaseException:
        lock.close()
        raise
    # Under /tmp (not pytest's private tmp) so that the munge user can reach its socket.
    root = Path(tempfile.mkdtemp(prefix=STATE_PREFIX))
    root.chmod(0o755)
    cluster = SlurmCluster(root=root, pid_files=_pid_files(root), lock=lock)
    try:
        write_config(root, _start_munged(root))
        _check_call(["slurmctld", "-f", str(cluster.conf)], "slurmctld")
        _check_call(["slurmd", "-f", str(cluster.conf)], "slurmd")
        _wait_idle(cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster
