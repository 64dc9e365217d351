"""The race sweeper's work: train every setting of a grid on a few seeds, then more seeds only where still undecided.

The race is replayed from every result so far after each round (rnn_sweep.stats.sequential), so it has no state
of its own: job numbers are fixed by (seed index, setting), the job folders are stable, and a killed race run again
with the same hydra.sweep.dir takes the records of the jobs that finished (found by their identity, as the resume
machinery in rnn_sweep.sweep.resume finds them) without handing those jobs to the launcher again, and goes on from
the round it had reached.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException
from omegaconf import DictConfig

from rnn_sweep import atomic
from rnn_sweep.config.overrides import parse_overrides
from rnn_sweep.console import stdout
from rnn_sweep.errors import ConfigError
from rnn_sweep.record.columns import ACCURACY, OVERRIDE_COLUMNS, RACE_CSV, RACE_FILE_COLUMNS
from rnn_sweep.record.result_files import collect_results
from rnn_sweep.stats.sequential import (
    BETTER,
    EQUIVALENT,
    LEADER,
    TIED,
    UNDECIDED,
    WORSE,
    Design,
    Race,
    Row,
    race,
    race_against,
    runs_used,
)
from rnn_sweep.sweep.claims import kill_command

# A test hook: with this set to N, the sweeper SIGKILLs its command once the race has reached round N, so a test
# can check that a race killed mid-way resumes without training what had finished.
KILL_AFTER_ROUND = "RNN_SWEEP_RACE_KILL_AFTER_ROUND"
Launch = Callable[..., Sequence[Any]]
Finished = Callable[[list[str]], dict[str, Any] | None]  # a job's overrides -> its `ok` record already in the folder


@dataclass(frozen=True)
class Grid:
    """The settings a race compares (each its overrides, without the seed) and the first seed."""

    settings: list[list[str]]
    base_seed: int = 0

    def job(self, setting: int, seed_index: int) -> tuple[int, list[str]]:
        """The job number and overrides of a setting's seed_index-th seed: number seed_index x settings + setting, so
        the same run always has the same job folder however the race went."""
        number = seed_index * len(self.settings) + setting
        return number, [*self.settings[setting], f"seed={self.base_seed + seed_index}"]

    def columns(self) -> dict[str, list[str]]:
        """The setting columns of race.csv: each key that differs between settings (named as in results.csv where it
        has a column there), with each setting's value."""
        values = [parse_overrides(setting) for setting in self.settings]
        keys = [key for key in dict.fromkeys(k for v in values for k in v) if len({v.get(key) for v in values}) > 1]
        return {OVERRIDE_COLUMNS.get(key, key): [v.get(key, "") for v in values] for key in keys}

    def describe(self, setting: int) -> str:
        shown = {key: values[setting] for key, values in self.columns().items()}
        return " ".join(f"{key}={value}" for key, value in shown.items()) or " ".join(self.settings[setting]) or "-"


def race_grid(arguments: list[str]) -> Grid:
    """The grid of the task overrides, expanded as Hydra's basic sweeper expands them; a plain `seed=S` is the first
    seed, a swept seed is an error (the race chooses the seeds)."""
    try:
        parsed = OverridesParser.create().parse_overrides(arguments)
    except OverrideParseException as error:
        raise ConfigError(f"Cannot read the override {error.override!r}: {' '.join(str(error.message).split())}.") \
            from None
    seeds = [override for override in parsed if override.key_or_group == "seed"]
    if any(override.is_sweep_override() for override in seeds):
        raise ConfigError(
            f"{seeds[0].input_line} sweeps the seed, but a race chooses the seeds itself (seed S, S+1, ... up to "
            "hydra.sweeper.max_seeds). Give at most one plain seed=S to start from, and no seeds=N."
        )
    base = 0
    if seeds:
        value = seeds[-1].value()
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{seeds[-1].input_line}: the first seed of a race must be an int, e.g. seed=0.")
        base = value
    rest = [override for override in parsed if override.key_or_group != "seed"]
    batches = BasicSweeper.split_arguments(rest, None)
    return Grid([list(job) for batch in batches for job in batch], base)


def race_design(sweeper: DictConfig) -> Design:
    return Design(min_seeds=int(sweeper.min_seeds), max_seeds=int(sweeper.max_seeds), alpha=float(sweeper.alpha),
                  margin=float(sweeper.margin),
                  max_runs=None if sweeper.get("max_runs") is None else int(sweeper.max_runs))


def check_race(sweeper: DictConfig, arguments: list[str]) -> Grid:
    """The grid, once every race key and the baseline are known good; else a ConfigError naming the bad value."""
    where = "hydra.sweeper"
    min_seeds, max_seeds = sweeper.min_seeds, sweeper.max_seeds
    if not isinstance(min_seeds, int) or min_seeds < 2:
        raise ConfigError(f"{where}.min_seeds={min_seeds} is too few: a setting's spread needs 2 seeds or more. "
                          "Give an int >= 2 (default 3).")
    if not isinstance(max_seeds, int) or max_seeds < min_seeds:
        raise ConfigError(f"{where}.max_seeds={max_seeds} is below min_seeds={min_seeds}: give an int >= min_seeds "
                          "(default 10).")
    alpha = sweeper.alpha
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"{where}.alpha={alpha} is not an error rate: give a number between 0 and 1, exclusive "
                          "(default 0.05).")
    margin = sweeper.margin
    if not isinstance(margin, (int, float)) or not margin >= 0 or math.isinf(margin):
        raise ConfigError(f"{where}.margin={margin} is not an accuracy difference: give a number >= 0 (default 0.002; "
                          "0: never declare settings tied).")
    max_runs = sweeper.get("max_runs")
    if max_runs is not None and (not isinstance(max_runs, int) or max_runs < 1):
        raise ConfigError(f"{where}.max_runs={max_runs} is not a budget of runs: give an int >= 1, or null for none.")
    grid = race_grid(arguments)
    if max_runs is not None and max_runs < min_seeds * len(grid.settings):
        raise ConfigError(f"{where}.max_runs={max_runs} is fewer than round 1 takes: min_seeds={min_seeds} x "
                          f"{len(grid.settings)} settings = {min_seeds * len(grid.settings)}. Give at least that, "
                          "or null for no budget.")
    if sweeper.get("against") is not None:
        baseline_samples(Path(sweeper.against), grid)
    return grid


def baseline_samples(folder: Path, grid: Grid) -> list[list[float]]:
    """Each setting's test accuracies in the baseline sweep `folder` (runs that ended ok, matched on every override
    but the seed); a ConfigError when the folder has no results or a setting has fewer than 2 there."""
    records = collect_results(folder) if folder.is_dir() else []
    if not records:
        raise ConfigError(
            f"hydra.sweeper.against={folder} is not a sweep folder with results (no result.json below it). Give the "
            "folder of a finished sweep of the same settings over seeds, e.g. outputs/sweeps/2026-01-01_10-00-00."
        )
    runs: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for record in records:
        if record.get("status") == "ok" and record.get(ACCURACY) is not None:
            runs.setdefault(_identity(record.get("overrides")), []).append(float(record[ACCURACY]))
    samples = [runs.get(_identity(setting), []) for setting in grid.settings]
    short = [grid.describe(i) for i, sample in enumerate(samples) if len(sample) < 2]
    if short:
        raise ConfigError(
            f"hydra.sweeper.against={folder} has fewer than 2 ok runs of {len(short)} setting(s) of this race "
            f"({'; '.join(short[:3])}): a race against a baseline needs every setting there on 2 seeds or more, "
            "with the same overrides but the seed."
        )
    return samples


def _identity(overrides: object) -> tuple[tuple[str, str], ...]:
    pairs = parse_overrides(overrides)
    return tuple(sorted((key, value) for key, value in pairs.items() if key != "seed" and not key.startswith("hydra")))


def run_race(sweeper: DictConfig, sweep_dir: Path, arguments: list[str], launch: Launch,
             finished: Finished = lambda overrides: None) -> list[Any]:
    """Run rounds until the race stops; write race.csv after each round and print the closing answer. A job whose
    record `finished` already has is taken from it, not launched."""
    grid = check_race(sweeper, arguments)
    design = race_design(sweeper)
    baseline = None if sweeper.get("against") is None else baseline_samples(Path(sweeper.against), grid)
    values: list[list[float]] = [[] for _ in grid.settings]
    returns: list[Any] = []
    reused = 0
    kill_after = int(os.environ.get(KILL_AFTER_ROUND) or 0)
    while True:
        result = race(values, design) if baseline is None else race_against(values, baseline, design)
        if result.rows:
            atomic.write_text(sweep_dir / RACE_CSV, race_frame(result, grid).to_csv(index=False))
        if kill_after and result.rounds >= kill_after:
            kill_command()
        if not result.wanted:
            break
        jobs = sorted(grid.job(setting, index) + (setting,)
                      for setting, wanted in result.wanted.items() for index in range(len(values[setting]), wanted))
        accuracies = {number: _record_accuracy(record) for number, overrides, _ in jobs
                      if (record := finished(overrides)) is not None}
        reused += len(accuracies)
        for batch in _contiguous([job for job in jobs if job[0] not in accuracies]):
            returned = launch([overrides for _, overrides, _ in batch], initial_job_idx=batch[0][0])
            accuracies.update((number, _accuracy(job)) for (number, _, _), job in zip(batch, returned, strict=True))
            returns.append(returned)
        for number, _, setting in jobs:  # in job order, so each setting's seeds in seed order
            values[setting].append(accuracies[number])
    stdout.print(closing_answer(result, grid, design, against=baseline is not None, reused=reused))
    return returns


def _contiguous(jobs: list[tuple[int, list[str], int]]) -> list[list[tuple[int, list[str], int]]]:
    """Jobs in runs of consecutive numbers: a launcher numbers a batch's jobs from its first."""
    runs: list[list[tuple[int, list[str], int]]] = []
    for job in jobs:
        if runs and runs[-1][-1][0] + 1 == job[0]:
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs


def _accuracy(job: Any) -> float:
    """The job's test accuracy; NaN for a run that did not end ok (the race counts it as taken, not as a result)."""
    try:
        record = job.return_value
    except Exception:  # noqa: BLE001 - Hydra re-raises the job's own exception here; the job's record says why
        return math.nan
    return _record_accuracy(record)


def _record_accuracy(record: object) -> float:
    if not isinstance(record, dict) or record.get("status") != "ok" or record.get(ACCURACY) is None:
        return math.nan
    return float(record[ACCURACY])


def race_frame(result: Race, grid: Grid) -> pd.DataFrame:
    """race.csv: one row per setting and round, the setting's columns, its mean with the repeated interval of the
    race's boundary at that round (cut to [0, 1], where a mean accuracy lies), and its state."""
    columns = grid.columns()
    rows = []
    for row in result.rows:
        interval = row.interval
        rows.append({"round": row.round, **{key: values[row.setting] for key, values in columns.items()},
                     "n": interval.n, "mean": interval.mean, "ci_low": float(np.clip(interval.low, 0, 1)),
                     "ci_high": float(np.clip(interval.high, 0, 1)), "state": row.state})
    return pd.DataFrame(rows, columns=["round", *columns, *RACE_FILE_COLUMNS[1:]])


def closing_answer(result: Race, grid: Grid, design: Design, against: bool = False, reused: int = 0) -> str:
    """What the race found, in a few lines: the leader, tied and dropped settings (or each setting's verdict against
    the baseline), and the runs it took against a fixed max_seeds grid, `reused` of them found finished in the
    folder (a resumed race)."""
    final = result.final()
    leaders = {row.round: row.setting for row in result.rows if row.state == LEADER}

    def against_whom(i: int, row: Row) -> str:
        """A setting tied or dropped stops there: its verdict is against the leader of that round, named when the
        lead has changed hands since."""
        if row.state not in (TIED, WORSE):
            return ""
        stopped = min(earlier.round for earlier in result.rows if earlier.setting == i and earlier.state == row.state)
        leader = leaders.get(stopped)
        if leader is None or leader == leaders.get(result.rounds):
            return ""
        return f", against round {stopped}'s leader {grid.describe(leader)}"

    def named(state: str) -> str:
        picked = [f"{grid.describe(i)} ({row.interval.mean:.4f}, n={row.seeds}{against_whom(i, row)})"
                  for i, row in final.items() if row.state == state]
        return "; ".join(picked) or "none"

    why = {"decided": "every setting decided", "max_seeds": f"max_seeds={design.max_seeds} reached",
           "max_runs": f"max_runs={design.max_runs} reached"}.get(result.stop, result.stop)
    lines = [f"Race over after {result.rounds} round(s): {why}."]
    if against:
        lines += [f"{state}: {named(state)}" for state in (BETTER, WORSE, EQUIVALENT, UNDECIDED)]
    else:
        lines += [f"leader: {named(LEADER)}", f"tied (within margin {design.margin:g}): {named(TIED)}",
                  f"dropped (worse): {named(WORSE)}", f"undecided: {named(UNDECIDED)}"]
    fixed = design.max_seeds * len(grid.settings)
    used = runs_used(result)
    lines.append(f"runs: {used} of the {fixed} a fixed grid of max_seeds={design.max_seeds} x {len(grid.settings)} "
                 f"settings takes ({fixed - used} saved).")
    if reused:
        lines.append(f"resumed: {reused} of these runs had finished in this folder before and were not launched again.")
    return "\n".join(lines)
