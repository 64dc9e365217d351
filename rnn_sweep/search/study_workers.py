"""Several searches on one sweep folder are workers of one study: each trial is trained once, none is failed alive.

Two locks of the kernel's (flock) carry it, taken on files in the sweep folder, so a worker that dies, even by
SIGKILL, lets go of them at once:
- the folder's `.study.lock`, held while a worker settles what dead workers left and asks its next trials, so no
  two workers pick one job folder number (slot) or ask a killed trial's slot again twice;
- each trial's `<job>/.trial`, held by the worker that asked it until the study is told how it ended: a RUNNING
  trial whose lock is free (and whose job holds no claim, see claims.py) was left by a dead worker and is settled.
A third kind numbers the workers: each holds the lowest free `.worker-N.lock` for its whole life, and its sampler's
seed is drawn from that number (samplers.py), so workers that open the study at the same moment ask different
trials, and a search run alone is always worker 0, seeded as the configured seed says.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import optuna
from optuna.trial import Trial, TrialState

from rnn_sweep.search.study import JOB, settle_orphans, trials_left
from rnn_sweep.sweep.claims import fcntl, is_held, is_locked

STUDY_LOCK = ".study.lock"
TRIAL_LOCK = ".trial"
WORKER_LOCK = ".worker-{}.lock"
_POLL_SECONDS = 2.0  # how often a worker with nothing left to ask looks whether the others' trials ended


@contextmanager
def study_lock(sweep_dir: Path) -> Iterator[None]:
    """Hold the sweep folder's study lock (waiting for another worker's) until the block ends."""
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    descriptor = os.open(Path(sweep_dir) / STUDY_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if fcntl is not None:
            with suppress(OSError):  # a file system without locks: one worker per folder, as before
                fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


@contextmanager
def worker_slot(sweep_dir: Path) -> Iterator[int]:
    """This worker's number: the lowest that no live worker on `sweep_dir` holds, held until the block ends (0 on a
    file system without locks)."""
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    number = 0
    while True:
        descriptor = os.open(Path(sweep_dir) / WORKER_LOCK.format(number), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if fcntl is not None:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:  # a live worker's number: try the next
            os.close(descriptor)
            number += 1
        except OSError:  # no locks here: one worker per folder, as before
            break
    try:
        yield number
    finally:
        os.close(descriptor)


class TrialLocks:
    """The `.trial` locks this worker holds, one per trial it asked and has not yet told."""

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = Path(sweep_dir)
        self._held: dict[int, int] = {}

    def hold(self, slot: int) -> None:
        job_dir = self.sweep_dir / str(slot)
        job_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(job_dir / TRIAL_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is not None:
            with suppress(OSError):
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._held[slot] = descriptor

    def release(self, slot: int) -> None:
        descriptor = self._held.pop(slot, None)
        if descriptor is not None:
            os.close(descriptor)


def is_alive(sweep_dir: Path, slot: int) -> bool:
    """Whether a live process still runs this slot's trial: the worker that asked it, or the job training it."""
    job_dir = Path(sweep_dir) / str(slot)
    return is_locked(job_dir / TRIAL_LOCK) or is_held(job_dir)


def claim_trials(study: optuna.Study, sweep_dir: Path, n_trials: int, n_jobs: int, locks: TrialLocks,
                 ask: Callable[[], tuple[Trial, list[str]]]) -> list[tuple[Trial, list[str]]]:
    """This worker's next trials, at most `n_jobs`, each asked by `ask` and its slot held; [] once the study has
    its `n_trials`.

    While the trials other workers run would bring the study to its target, this worker waits for them instead of
    leaving: if one of them is killed, its trial is asked again here, so the target is reached however a worker died.
    """
    while True:
        with study_lock(sweep_dir):
            settle_orphans(study, sweep_dir, alive=lambda slot: is_alive(sweep_dir, slot))
            running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))  # all alive, elsewhere
            left = trials_left(study, n_trials)
            asked = []
            for _ in range(min(n_jobs, left - running)):
                trial, overrides = ask()
                locks.hold(trial.user_attrs[JOB])
                asked.append((trial, overrides))
        if asked or left == 0:
            return asked
        time.sleep(_POLL_SECONDS)

