"""The presets of a sweep, one row each: the tutorial's reported figure or the target beside what was measured.

A preset run over several seeds (`rnn-sweep -m experiment=best_lstm seed=0,1,2`) becomes one row with the mean
and sample standard deviation of its test accuracy, as the presets table of docs/configuration.md quotes it.
"""

from __future__ import annotations

import pandas as pd
from rich.table import Table

from rnn_sweep.record.columns import ACCURACY, label, show
from rnn_sweep.record.fold import counted

_FOLDED = ("seed", "experiment")  # seeds are folded into mean ± spread; `experiment` repeats `preset`


def preset_summary(frame: pd.DataFrame, varied: list[str]) -> pd.DataFrame:
    """One row per preset and setting of the `varied` columns other than the seed; only jobs that ended ok."""
    runs = counted(frame)
    runs = runs[runs["preset"].notna()]
    if runs.empty:
        return pd.DataFrame()
    keys = ["preset", *(column for column in varied if column not in _FOLDED)]
    summary = runs.groupby(keys, dropna=False, sort=False).agg(
        measures=("preset_measures", "first"),
        reported_test_accuracy=("reported_test_accuracy", "first"),
        target_test_accuracy=("target_test_accuracy", "first"),
        runs=("test_accuracy", "size"),
        seeds=("seed", list),  # lists (JSON in presets.csv), so the column's type is the same for one seed or many
        test_accuracy_mean=("test_accuracy", "mean"),
        test_accuracy_std=("test_accuracy", "std"),
        test_accuracies=("test_accuracy", list),
        epochs_completed=("epochs_completed", "max"),
        train_seconds_mean=("train_seconds", "mean"),
        epoch_seconds_median=("epoch_seconds", "median"),
        device=("device", lambda devices: "; ".join(dict.fromkeys(map(str, devices)))),
    )
    return summary.reset_index()


def preset_table(summary: pd.DataFrame, title: str) -> Table:
    """The summary as docs/configuration.md's presets table shows it: reported or target, then mean ± spread; labels
    and numbers as the column table writes them."""
    table = Table(title=title, title_justify="left")
    keys = list(summary.columns[: summary.columns.get_loc("measures")])
    for header in (*map(label, keys), "measures", "reported / target", label(ACCURACY), "seeds",
                   label("epochs_completed"), f"{label('train_seconds')} (mean)", label("device")):
        table.add_column(header, overflow="fold")
    for _, values in summary.iterrows():  # not itertuples: a column named like preset.name is no tuple field
        if pd.notna(values["reported_test_accuracy"]):
            reference = f"{values['reported_test_accuracy']} reported"
        elif pd.notna(values["target_test_accuracy"]):
            reference = f">= {values['target_test_accuracy']} target"
        else:
            reference = "-"
        accuracy = show(ACCURACY, values["test_accuracy_mean"])
        if values["runs"] > 1:
            each = " ".join(show(ACCURACY, value) for value in values["test_accuracies"])
            accuracy += f" ± {show(ACCURACY, values['test_accuracy_std'])} ({each})"
        measures = values["measures"] if pd.notna(values["measures"]) else "-"
        seeds = " ".join(map(str, values["seeds"]))
        table.add_row(*map(show, keys, (values[key] for key in keys)), measures, reference, accuracy, seeds,
                      show("epochs_completed", values["epochs_completed"]),
                      show("train_seconds", values["train_seconds_mean"]), values["device"])
    return table
