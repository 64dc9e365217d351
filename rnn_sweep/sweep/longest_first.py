"""The order in which jobs side by side are handed out: the most work first, so that no long job starts last.

A launcher that runs jobs side by side gives each free worker the next job in the grid's order. In a grid whose
jobs differ in size, a long job met late then runs on while the other workers have nothing left: measured on the
2-core machine, the medium grid (GRU and LSTM at 32 and 128 units) trained its LSTM-128 last, 14 s alone after
GRU-128 ended. Handed out the largest first, the small jobs fill the gaps at the end. Job numbers and folders stay
those of the grid's order; only when each starts changes, and no job's result depends on that.

The work of a job is the arithmetic of its recurrence over its training: optimizer steps x batch x time steps x the
weights a time step multiplies by. Preflight, which composes every job anyway, notes it; the launcher, which gets
only each job's overrides, reads it back by them (in the command's training child, from its orders).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from omegaconf import DictConfig

from rnn_sweep.config.cells import cell_entry
from rnn_sweep.config.overrides import task_overrides
from rnn_sweep.data.sequences import sequence_shape
from rnn_sweep.sweep.parallel import training_steps

# Each job of the command's grid sweep, by its task overrides: its expected work.
_expected: dict[tuple[str, ...], float] = {}


def expect(jobs: Iterable[tuple[Sequence[str], DictConfig]]) -> None:
    """Note the work of each (overrides, validated config) job of the grid sweep preflight checked."""
    _expected.clear()
    _expected.update((_key(overrides), work(job)) for overrides, job in jobs)


def notes() -> list[tuple[tuple[str, ...], float]]:
    """The work noted, for the command's training child, forked before preflight noted it (rnn_sweep.cli)."""
    return list(_expected.items())


def take_notes(noted: Iterable[tuple[Sequence[str], float]]) -> None:
    """Note the work of `notes()` made in another process."""
    _expected.clear()
    _expected.update((tuple(key), work) for key, work in noted)


def order(job_overrides: Sequence[Sequence[str]]) -> list[int]:
    """The positions of `job_overrides` with the most expected work first (ties keep the grid's order); the grid's own
    order where preflight did not see every one of these jobs."""
    works = [_expected.get(_key(overrides)) for overrides in job_overrides]
    if any(expected is None for expected in works):
        return list(range(len(job_overrides)))
    return sorted(range(len(job_overrides)), key=lambda position: -works[position])  # type: ignore[operator]


def work(job: DictConfig) -> float:
    """Multiply-adds of a job's recurrent layers over its training (the dense head and evaluation left out)."""
    steps = training_steps(job)
    time_steps, features = sequence_shape(job.data.sequence)
    model = job.model
    directions = 2 if model.bidirectional else 1
    gates, units = cell_entry(model.cell).gates, model.units
    per_step = sum(gates * units * ((features if layer == 0 else directions * units) + units)
                   for layer in range(model.layers)) * directions
    return float(steps * job.train.batch_size * time_steps * per_step)


def _key(overrides: Sequence[str]) -> tuple[str, ...]:
    """A job's task overrides, as its launcher gets them (Hydra's own settings go elsewhere), in a fixed order."""
    return tuple(sorted(task_overrides(overrides)))
