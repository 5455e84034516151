"""How many CPUs this task may really use: the cgroup's CPU quota and the affinity mask, not the host's cores.

A Fargate task with `cpu: 2048` runs on a host with more cores than that;
`os.cpu_count()` reports the host, and analysis processes beyond the quota
only take turns on the same two vCPUs (more memory, no more speed). The
quota comes from cgroup v2 (`cpu.max`) or v1 (`cpu.cfs_quota_us` and
`cpu.cfs_period_us`); a fractional quota rounds up, since one process can use
a share of a CPU.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def quota_v2(text: str) -> float | None:
    """CPUs allowed by a cgroup v2 `cpu.max` ("max 100000" or "200000 100000"); None: no limit."""
    parts = text.split()
    if len(parts) not in (1, 2) or parts[0] == "max":
        return None
    try:
        quota = int(parts[0])
        period = int(parts[1]) if len(parts) == 2 else 100_000
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def quota_v1(quota_text: str, period_text: str) -> float | None:
    """CPUs allowed by cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`; -1 (or junk): no limit."""
    try:
        quota, period = int(quota_text.strip()), int(period_text.strip())
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def usable_cpus(affinity: int, quota: float | None) -> int:
    """The whole CPUs a task can keep busy: the affinity mask, capped by the quota rounded up."""
    if quota is None:
        return max(1, affinity)
    return max(1, min(affinity, math.ceil(quota - 1e-9)))


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """This process's CPU quota from the cgroup file system (v2 first, then v1); None when there is none."""
    text = _read(root / "cpu.max")
    if text is not None:
        return quota_v2(text)
    for folder in (root / "cpu", root / "cpu,cpuacct", root):
        quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return quota_v1(quota, period)
    return None


def task_cpus() -> int:
    """The CPUs this process may really use (affinity and cgroup quota)."""
    return usable_cpus(len(os.sched_getaffinity(0)), cgroup_quota())


def analysis_processes(environ: Mapping[str, str] | None = None) -> int:
    """Processes one analysis runs on: WORKER_ANALYSIS_PROCESSES when set, else the task's usable CPUs.

    The worker validated the variable at start-up (worker/config.py); a bad value
    met here (a one-off `analyze`) is refused with the same message.
    """
    from worker.config import ConfigError, setting_problem

    env = os.environ if environ is None else environ
    raw = env.get("WORKER_ANALYSIS_PROCESSES", "").strip()
    if not raw:
        return task_cpus()
    problem = setting_problem("WORKER_ANALYSIS_PROCESSES", raw)
    if problem is not None:
        raise ConfigError([f"WORKER_ANALYSIS_PROCESSES: {problem}"])
    return int(raw)
