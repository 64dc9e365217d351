"""`hydra/launcher=joblib`, the launcher that trains a sweep's jobs side by side: n at once, this process one of them
and joblib's (loky's) worker processes the others, the jobs handed out the most work first
(rnn_sweep.sweep.longest_first) while each keeps its number and folder.

This process trains too because it is the command's trainer, which loaded TensorFlow while the command checked
itself (rnn_sweep.cli): its first step comes as soon as one at a time, where a fresh worker would start a Python,
unpickle the job and import TensorFlow (about 4 s on the project's 2-core machine) before its own. Whichever of them
is free takes the next job. The class Hydra accepts is made in hydra_plugins/rnn_sweep_joblib.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher import _core
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher as HydraJoblibLauncher
from joblib._parallel_backends import ParallelBackendBase
from joblib.externals.loky import get_reusable_executor

from rnn_sweep.sweep import longest_first
from rnn_sweep.sweep.callback import import_report
from rnn_sweep.sweep.launchers import jobs_at_once
from rnn_sweep.train.device import available_cores
from rnn_sweep.train.warm_up import load_training_code

log = logging.getLogger(__name__)
_IDLE_WORKER_SECONDS = 300  # as joblib's: a race's next round finds its workers (and their TensorFlow) still there


class JoblibLauncher(HydraJoblibLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Hydra's joblib launch (hydra_joblib_launcher._core.launch), its jobs handed out longest first to this
        process and one worker fewer than jobs at once; the returns in the grid's order, as Hydra expects them."""
        setup_globals()
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        at_once = jobs_at_once(self.config.hydra.launcher, len(job_overrides), available_cores())
        log.info(f"Launching {len(job_overrides)} jobs, {at_once} at once: this process and {at_once - 1} joblib "
                 f"worker{'s' * (at_once != 2)}, sweep output dir : {sweep_dir}")
        for idx, overrides in enumerate(job_overrides):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        state = Singleton.get_state()
        # Pickled once, here: a worker's job must not be pickled while this process's own job changes Hydra's state.
        payload = cloudpickle.dumps((self.hydra_context, self.config, self.task_function, state))
        jobs = _Queue(longest_first.order(job_overrides))
        returned: dict[int, JobReturn] = {}

        def run_in_workers() -> None:
            while (position := jobs.take()) is not None:
                try:
                    returned[position] = executor.submit(
                        _execute, payload, initial_job_idx + position, job_overrides[position]).result()
                except BaseException as error:  # noqa: BLE001 - a worker that crashed: raised in the main thread
                    jobs.fail(error)
            import_report()  # nothing left to hand out: a core is idle while this process trains its last job

        executor = start_workers(at_once - 1) if at_once > 1 else None
        feeders = [threading.Thread(target=run_in_workers, name=f"joblib-feeder-{n}", daemon=True)
                   for n in range(at_once - 1)]
        for feeder in feeders:
            feeder.start()
        try:
            while (position := jobs.take()) is not None:
                returned[position] = _core.execute_job(initial_job_idx + position, job_overrides[position],
                                                       self.hydra_context, self.config, self.task_function, state)
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)  # as Hydra's basic does
            import_report()  # nothing left to hand out: while the workers train their last jobs
        except BaseException:  # a stop: the workers' jobs end with it (their records are written as a stop's)
            jobs.fail(None)
            if executor is not None:
                executor.shutdown(wait=True, kill_workers=True)
            raise
        finally:
            for feeder in feeders:
                feeder.join()
        jobs.raise_failure()
        return [returned[position] for position in range(len(job_overrides))]


class _Queue:
    """The jobs' positions still to hand out, to whichever process is free first; none once one has failed."""

    def __init__(self, positions: list[int]) -> None:
        self._positions = positions
        self._lock = threading.Lock()
        self._failure: BaseException | None = None
        self._failed = False

    def take(self) -> int | None:
        with self._lock:
            return None if self._failed or not self._positions else self._positions.pop(0)

    def fail(self, error: BaseException | None) -> None:
        with self._lock:
            self._failed = True
            self._failure = self._failure or error

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


def start_workers(count: int) -> Executor:
    """loky's pool of `count` workers (joblib's reusable one), each loading TensorFlow as it starts, before its first
    job comes: the command's trainer starts them as soon as it has its orders (rnn_sweep.cli), and its launcher gets
    the same pool back (the same settings, so loky reuses it)."""
    pool = get_reusable_executor(max_workers=count, timeout=_IDLE_WORKER_SECONDS, env=_worker_env(count + 1),
                                 initializer=load_training_code)
    pool.submit(int)  # loky starts its processes with the first task: nothing to do but start them
    return pool


def _execute(payload: bytes, idx: int, overrides: Sequence[str]) -> JobReturn:
    """In a worker: one job, as Hydra's joblib launcher runs it there."""
    hydra_context, config, task_function, state = pickle.loads(payload)
    return _core.execute_job(idx, overrides, hydra_context, config, task_function, state)


def _worker_env(at_once: int) -> dict[str, str]:
    """What joblib gives its workers: native thread pools (BLAS, OpenMP) capped at their share of the cores."""
    share = str(max(1, available_cores() // at_once))
    return {name: share for name in ParallelBackendBase.MAX_NUM_THREADS_VARS if name not in os.environ}
