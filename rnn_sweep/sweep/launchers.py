"""What rnn-sweep needs to know about each Hydra launcher, in one table keyed by the launcher's `_target_`.

A launcher not listed here runs its jobs one at a time in this process, like Hydra's basic launcher. A new
launcher kind is one entry in LAUNCHERS (and its conf/hydra/launcher yaml where Hydra has none). Nothing here
imports a launcher: joblib and submitit are optional extras.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig


def _one_at_a_time(launcher: DictConfig, cores: int) -> int:
    return 1


def _joblib_jobs(launcher: DictConfig, cores: int) -> int:
    """joblib's n_jobs: a count, or -1 for every core, -2 for all but one, ..."""
    n_jobs = int(launcher.get("n_jobs", -1))
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def _submitit_jobs(launcher: DictConfig, cores: int) -> int:
    return int(launcher.get("array_parallelism") or cores)


@dataclass(frozen=True)
class LauncherTraits:
    """How a launcher runs the jobs of a sweep."""

    # Jobs running at once, from the launcher's settings and this machine's cores.
    concurrent_jobs: Callable[[DictConfig, int], int] = _one_at_a_time
    # Jobs run in worker processes beside each other, so none may draw a live display on the terminal.
    side_by_side: bool = False
    # Each job asks its scheduler for `cpus_per_task` CPUs, which are then its thread budget.
    cpus_from_request: bool = False
    # The jobs are SLURM jobs: SIGTERM there is SLURM ending the job, and the launcher writes its row with the
    # reason, so the job installs no SIGTERM handler of its own; the scheduler must be reachable before submitting.
    on_slurm: bool = False
    # The process that launches the jobs trains some itself (one at a time, or one share of those side by side): the
    # command's trainer, which loads TensorFlow while the command checks itself (rnn_sweep.cli), runs it.
    launching_process_trains: bool = True


_JOBLIB = LauncherTraits(concurrent_jobs=_joblib_jobs, side_by_side=True)
_SUBMITIT_LOCAL = LauncherTraits(concurrent_jobs=_submitit_jobs, side_by_side=True, cpus_from_request=True,
                                 launching_process_trains=False)
_SLURM = LauncherTraits(concurrent_jobs=_submitit_jobs, side_by_side=True, cpus_from_request=True, on_slurm=True,
                        launching_process_trains=False)
BASIC = LauncherTraits()
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"

LAUNCHERS: dict[str, LauncherTraits] = {
    BASIC_LAUNCHER: BASIC,
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher": _JOBLIB,
    "hydra_plugins.rnn_sweep_joblib.joblib_launcher.JoblibLauncher": _JOBLIB,
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher": _SUBMITIT_LOCAL,
    "hydra_plugins.rnn_sweep_submitit_local.local_launcher.LocalLauncher": _SUBMITIT_LOCAL,
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher": _SLURM,
    "hydra_plugins.rnn_sweep_slurm.slurm_launcher.SlurmLauncher": _SLURM,
}


def launcher_traits(launcher: DictConfig) -> LauncherTraits:
    """The traits of the launcher configured in `hydra.launcher`; the basic launcher's for one not listed."""
    return LAUNCHERS.get(str(launcher.get("_target_", "")), BASIC)


def jobs_at_once(launcher: DictConfig, jobs: int | None, cores: int) -> int:
    """How many of a sweep's `jobs` (None: unknown) the launcher runs at once on `cores` cores."""
    concurrent = launcher_traits(launcher).concurrent_jobs(launcher, cores)
    return max(1, min(concurrent, jobs) if jobs else concurrent)


def threads_per_job(launcher: DictConfig, jobs: int | None, cores: int) -> int | None:
    """TensorFlow threads for each job of a sweep of `jobs` (None: unknown) on `cores` cores: the CPUs a cluster
    job asked for, an equal share of the cores for jobs side by side, None (TensorFlow's default, every core) for
    one job at a time."""
    traits = launcher_traits(launcher)
    if traits.cpus_from_request and launcher.get("cpus_per_task"):
        return int(launcher.cpus_per_task)
    if not traits.side_by_side:
        return None
    return max(1, cores // jobs_at_once(launcher, jobs, cores))
