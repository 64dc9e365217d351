"""summary.csv: one row per setting of a sweep with its seeds folded, each number with how sure we are of it.

Accuracy: the mean over the runs that ended ok (not a search's pruned trials), its standard deviation and 95%
interval inside [0, 1] (a t-interval on the logit scale; empty for n = 1).
Timing: the median and interquartile range of every steady epoch (the first, which includes tracing, left out)
of every seed pooled, and the median training samples per second.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from scipy import stats

from rnn_sweep.results.columns import (
    ACCURACY,
    COLUMNS,
    ENDED_WELL,
    SETTING_COLUMNS,
    SUMMARY_COLUMNS,
    parse_numbers,
)
from rnn_sweep.results.statistics import accuracy_interval


def setting_keys(frame: pd.DataFrame) -> list[str]:
    """What tells settings apart in a sweep table: the core settings and every other swept key; never the seed."""
    others = [column for column in frame.columns if column not in COLUMNS and frame[column].nunique(dropna=True) > 1]
    return [*(column for column in SETTING_COLUMNS if column in frame.columns), *others]


def steady_epoch_seconds(runs: pd.DataFrame) -> list[float]:
    """Every epoch after the first of every run that ended ok, pooled; a run of one epoch gives that epoch.

    Runs recorded before per-epoch times were kept give their median (`epoch_seconds`) instead.
    """
    pooled: list[float] = []
    for _, run in runs.iterrows():
        if run.get("status", "ok") != "ok":
            continue
        epochs = parse_numbers(run.get("epoch_seconds_all"))
        if epochs:
            pooled += epochs[1:] or epochs
        elif pd.notna(pd.to_numeric(run.get("epoch_seconds"), errors="coerce")):
            pooled.append(float(run["epoch_seconds"]))
    return pooled


def summary_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One row per setting (seeds folded) with SUMMARY_COLUMNS, in setting order."""
    keys = setting_keys(results)
    rows = [
        {**dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True)), **_fold(group)}
        for values, group in results.groupby(keys, dropna=False, sort=True)
    ]
    return pd.DataFrame(rows, columns=[*keys, *SUMMARY_COLUMNS])


def _fold(runs: pd.DataFrame) -> dict[str, Any]:
    ok = runs[runs["status"] == "ok"]
    accuracy = accuracy_interval(pd.to_numeric(ok[ACCURACY], errors="coerce").dropna().tolist())
    epochs = steady_epoch_seconds(ok)
    speed = pd.to_numeric(ok["train_samples_per_second"], errors="coerce").dropna()
    return {
        "n": accuracy.n,
        "n_not_ok": int((~runs["status"].isin(ENDED_WELL)).sum()),  # failed, diverged, interrupted; not pruned
        "test_accuracy_mean": accuracy.mean,
        "test_accuracy_sd": accuracy.sd,
        "test_accuracy_ci_low": accuracy.low,
        "test_accuracy_ci_high": accuracy.high,
        "epoch_seconds_median": pd.Series(epochs, dtype=float).median(),
        "epoch_seconds_iqr": float(stats.iqr(epochs)) if len(epochs) > 1 else float("nan"),
        "train_samples_per_second_median": speed.median(),
    }
