# --- a run killed by SIGKILL (node failure, OOM killer, power loss) ---------------------
# Snakemake leaves its lock (.snakemake/locks) behind and refuses the next run until
# `snakemake --unlock`. Each run records which process holds its lock files (onstart:
# Snakemake has written them by then); a lock is released here, at parse time, only when
# every process of the run that holds it is gone (satcluster.stale_lock explains why that
# is safe), so rerunning the same command resumes the run.
from snakemake.logging import logger as _logger

from satcluster.stale_lock import record_lock_owner, release_stale_lock

_released = release_stale_lock()
if _released is not None:
    _logger.warning(_released)


onstart:
    # The lock files Snakemake wrote for this run (none with --nolock).
    record_lock_owner(getattr(workflow.persistence, "_lockfile", {}).values())
