"""How many CPU threads one job's TensorFlow may use, so parallel jobs share the cores instead of fighting.

TensorFlow sizes its thread pools to every core of the machine; n jobs started side by side (joblib,
submitit) then run n times that many threads. `train.threads=null` (auto) gives each job its share.
"""

from __future__ import annotations

import os

from omegaconf import DictConfig


def available_cores() -> int:
    """Cores this process may run on (affinity and cgroup cpusets, where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def auto_threads(launcher: DictConfig, jobs: int | None) -> int | None:
    """Threads per job for the launcher that runs it; None (TensorFlow's default) for one job at a time."""
    if launcher.get("cpus_per_task"):
        return int(launcher.cpus_per_task)  # a cluster job: the CPUs it asked for
    target = str(launcher.get("_target_", ""))
    cores = available_cores()
    if "joblib" in target.lower():
        n_jobs = int(launcher.get("n_jobs", -1))
        concurrent = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
    elif "submitit" in target.lower():
        concurrent = int(launcher.get("array_parallelism") or cores)
    else:
        return None
    if jobs:
        concurrent = min(concurrent, jobs)
    return max(1, cores // concurrent)
