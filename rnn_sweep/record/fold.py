"""Which runs count, and a setting's runs folded into one sample: the one definition summary.csv, pivots,
compare, the report and TensorBoard HParams all use.

A run counts when it ended `ok` with a test accuracy. `pruned` (a search's pruner stopping a hopeless trial) is
no failure but does not count either; every other status (failed, diverged, interrupted, unfinished) is not ok.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from rnn_sweep.record.columns import ACCURACY, ENDED_WELL, parse_numbers
from rnn_sweep.stats.intervals import MeanInterval, accuracy_interval


def ended_well(status: object) -> bool:
    """Whether a run with this status ended as it should (`ok`, or `pruned` by a search)."""
    return status in ENDED_WELL


def not_ok(runs: pd.DataFrame) -> pd.Series:
    """Which rows did not end well (a row without a status counts as ended well: a table that has none)."""
    if "status" not in runs.columns:
        return pd.Series(False, index=runs.index)
    return ~runs["status"].isin(ENDED_WELL)


def counted(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that count: status `ok` (all rows of a table without a status) with a test accuracy."""
    ok = runs[runs["status"] == "ok"] if "status" in runs.columns else runs
    return ok[pd.to_numeric(ok[ACCURACY], errors="coerce").notna()] if ACCURACY in ok.columns else ok


def steady_epoch_seconds(runs: pd.DataFrame) -> list[float]:
    """Every epoch after the first of every run, pooled; a run of one epoch gives that epoch.

    Runs recorded before per-epoch times were kept give their median (`epoch_seconds`) instead.
    """
    pooled: list[float] = []
    for _, run in runs.iterrows():
        epochs = parse_numbers(run.get("epoch_seconds_all"))
        if epochs:
            pooled += epochs[1:] or epochs
        elif pd.notna(pd.to_numeric(run.get("epoch_seconds"), errors="coerce")):
            pooled.append(float(run["epoch_seconds"]))
    return pooled


@dataclass(frozen=True)
class Fold:
    """A setting's runs as one sample: the runs that count, their accuracy with its 95% t-interval, every steady
    epoch pooled, and how many did not end well."""

    runs: pd.DataFrame  # the runs that count
    accuracy: MeanInterval
    epochs: list[float]
    not_ok: int

    @property
    def epoch_seconds_median(self) -> float:
        return float(np.median(self.epochs)) if self.epochs else float("nan")

    @property
    def epoch_seconds_iqr(self) -> float:
        return float(stats.iqr(self.epochs)) if len(self.epochs) > 1 else float("nan")

    def median(self, column: str) -> float:
        values = pd.to_numeric(self.runs[column], errors="coerce").dropna() if column in self.runs else []
        return float(np.median(values)) if len(values) else float("nan")

    def mean(self, column: str) -> float:
        values = pd.to_numeric(self.runs[column], errors="coerce").dropna() if column in self.runs else []
        return float(np.mean(values)) if len(values) else float("nan")

    def summary_row(self) -> dict[str, Any]:
        """The row summary.csv holds for the setting (SUMMARY_COLUMNS)."""
        return {
            "n": self.accuracy.n,
            "n_not_ok": self.not_ok,
            "test_accuracy_mean": self.accuracy.mean,
            "test_accuracy_sd": self.accuracy.sd,
            "test_accuracy_ci_low": self.accuracy.low,
            "test_accuracy_ci_high": self.accuracy.high,
            "epoch_seconds_median": self.epoch_seconds_median,
            "epoch_seconds_iqr": self.epoch_seconds_iqr,
            "train_samples_per_second_median": self.median("train_samples_per_second"),
        }


def fold(runs: pd.DataFrame) -> Fold:
    """The runs of one setting (its seeds) folded."""
    ok = counted(runs)
    # inside [0, 1]: a t-interval on the logit scale (docs/statistics.md)
    accuracy = accuracy_interval(pd.to_numeric(ok[ACCURACY], errors="coerce").tolist() if ACCURACY in ok else [])
    return Fold(ok, accuracy, steady_epoch_seconds(ok), int(not_ok(runs).sum()))
