"""Which runs count and how a setting's seeds fold into summary.csv's row: worked examples whose answers are
counted by hand (which rows count, which epochs pool) or come from numpy and scipy on the hand-picked values."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from rnn_sweep.record.columns import SUMMARY_COLUMNS
from rnn_sweep.record.fold import counted, ended_well, fold, not_ok, steady_epoch_seconds
from rnn_sweep.report.summary import setting_keys, summary_frame


def _run(seed: int, accuracy: object = 0.9, status: str = "ok", **values: object) -> dict:
    return {"run_dir": str(seed), "status": status, "cell": "gru", "units": 8, "batch_size": 64,
            "optimizer": "adam", "learning_rate": 0.001, "epochs": 2, "data": "mnist", "seed": seed,
            "test_accuracy": accuracy, **values}


def _logit_interval(values: list[float]) -> tuple[float, float]:
    logits = special.logit(values)
    half = stats.t.ppf(0.975, len(values) - 1) * np.std(logits, ddof=1) / math.sqrt(len(values))
    return float(special.expit(logits.mean() - half)), float(special.expit(logits.mean() + half))


@pytest.mark.parametrize(("status", "well"), [("ok", True), ("pruned", True), ("failed", False),
                                              ("diverged", False), ("interrupted", False), (None, False)])
def test_ok_and_pruned_ended_well_every_other_status_did_not(status, well):
    assert ended_well(status) is well


def test_not_ok_marks_each_row_that_did_not_end_well_and_none_of_a_table_without_status():
    runs = pd.DataFrame([_run(0), _run(1, status="pruned"), _run(2, status="failed"), _run(3, status="diverged")],
                        index=[10, 11, 12, 13])
    assert not_ok(runs).to_dict() == {10: False, 11: False, 12: True, 13: True}
    without_status = runs.drop(columns="status")
    assert not_ok(without_status).to_dict() == {10: False, 11: False, 12: False, 13: False}


def test_only_ok_runs_with_an_accuracy_count():
    runs = pd.DataFrame([_run(0, 0.9), _run(1, 0.8, "pruned"), _run(2, 0.7, "failed"), _run(3, None),
                         _run(4, ""), _run(5, "0.85"), _run(6, "n/a")])
    assert counted(runs)["seed"].tolist() == [0, 5]
    # a table without a status column: every row with an accuracy counts
    assert counted(runs.drop(columns="status"))["seed"].tolist() == [0, 1, 2, 5]
    # a table without an accuracy column: the ok rows
    assert counted(runs.drop(columns="test_accuracy"))["seed"].tolist() == [0, 3, 4, 5, 6]


def test_steady_epochs_leave_out_each_runs_first_and_pool_the_rest():
    runs = pd.DataFrame([
        _run(0, epoch_seconds_all=json.dumps([9.0, 2.0, 3.0]), epoch_seconds=2.5),  # JSON, as results.csv holds
        _run(1, epoch_seconds_all=[7.0], epoch_seconds=7.0),  # one epoch: that epoch
        _run(2, epoch_seconds_all=None, epoch_seconds=4.0),  # recorded before per-epoch times: its median
        _run(3, epoch_seconds_all="not json", epoch_seconds="5.5"),
        _run(4, epoch_seconds_all=None, epoch_seconds=None),  # nothing to pool
        _run(5, epoch_seconds_all="[]", epoch_seconds="n/a"),
    ])
    assert steady_epoch_seconds(runs) == [2.0, 3.0, 7.0, 4.0, 5.5]
    assert steady_epoch_seconds(runs.drop(columns=["epoch_seconds_all", "epoch_seconds"])) == []


def test_a_fold_counts_ok_runs_and_pools_only_their_epochs():
    accuracies = [0.91, 0.93, 0.96]
    runs = pd.DataFrame([
        *(_run(seed, accuracy, epoch_seconds_all=[10.0, 1.0 + seed, 2.0 + seed], train_samples_per_second=100 * seed,
               params=500)
          for seed, accuracy in enumerate(accuracies)),
        _run(3, 0.5, "failed", epoch_seconds_all=[10.0, 50.0], train_samples_per_second=1e6),
        _run(4, 0.99, "pruned", epoch_seconds_all=[10.0, 60.0], train_samples_per_second=1e6),
        _run(5, None, "diverged"),
    ])
    runs["error"] = "none"  # a column that holds no number
    folded = fold(runs)
    assert folded.runs["seed"].tolist() == [0, 1, 2]
    assert folded.not_ok == 2  # failed and diverged; pruned ended well
    assert folded.epochs == [1.0, 2.0, 2.0, 3.0, 3.0, 4.0]
    assert folded.epoch_seconds_median == 2.5
    assert folded.epoch_seconds_iqr == pytest.approx(stats.iqr([1.0, 2.0, 2.0, 3.0, 3.0, 4.0])) == 1.0
    assert folded.median("train_samples_per_second") == 100.0
    assert folded.mean("train_samples_per_second") == 100.0
    assert folded.median("params") == 500.0
    with warnings.catch_warnings():  # a column with no number is NaN, without numpy's empty-slice warning
        warnings.simplefilter("error")
        assert math.isnan(folded.median("no_such_column")) and math.isnan(folded.mean("no_such_column"))
        assert math.isnan(folded.median("error")) and math.isnan(folded.mean("error"))

    row = folded.summary_row()
    assert tuple(row) == SUMMARY_COLUMNS
    low, high = _logit_interval(accuracies)
    assert row == pytest.approx({
        "n": 3, "n_not_ok": 2, "test_accuracy_mean": np.mean(accuracies),
        "test_accuracy_sd": np.std(accuracies, ddof=1), "test_accuracy_ci_low": low, "test_accuracy_ci_high": high,
        "epoch_seconds_median": 2.5, "epoch_seconds_iqr": 1.0, "train_samples_per_second_median": 100.0,
    }, rel=1e-12)


def test_median_and_mean_skip_cells_that_are_not_numbers():
    runs = pd.DataFrame([_run(0, speed="10"), _run(1, speed=None), _run(2, speed="fast"), _run(3, speed=40.0),
                         _run(4, speed=100.0)])
    folded = fold(runs)
    assert folded.median("speed") == 40.0
    assert folded.mean("speed") == 50.0


def test_one_run_has_a_mean_but_no_interval_and_no_spread():
    folded = fold(pd.DataFrame([_run(0, 0.9, epoch_seconds_all=[5.0, 2.0])]))
    row = folded.summary_row()
    assert (row["n"], row["n_not_ok"], row["test_accuracy_mean"]) == (1, 0, 0.9)
    assert folded.epochs == [2.0] and row["epoch_seconds_median"] == 2.0
    for empty in ("test_accuracy_sd", "test_accuracy_ci_low", "test_accuracy_ci_high", "epoch_seconds_iqr",
                  "train_samples_per_second_median"):
        assert math.isnan(row[empty]), empty


def test_a_setting_whose_runs_all_failed_folds_to_nothing_but_its_count():
    row = fold(pd.DataFrame([_run(0, None, "failed"), _run(1, None, "interrupted")])).summary_row()
    assert (row["n"], row["n_not_ok"]) == (0, 2)
    assert all(math.isnan(row[name]) for name in SUMMARY_COLUMNS if name not in ("n", "n_not_ok"))
    without_accuracy = fold(pd.DataFrame([{"status": "failed"}, {"status": "ok"}])).summary_row()
    assert (without_accuracy["n"], without_accuracy["n_not_ok"]) == (0, 1)


def test_settings_are_told_apart_by_their_columns_and_other_swept_keys_never_by_seed():
    runs = pd.DataFrame([_run(seed, dropout=dropout, note="same") for seed in (0, 1) for dropout in (0.1, 0.2)])
    runs["tag"] = [None, "a", None, None]  # one value and gaps: not a dimension of the sweep
    assert setting_keys(runs) == ["cell", "units", "batch_size", "optimizer", "learning_rate", "epochs", "data",
                                  "dropout"]
    assert setting_keys(runs.drop(columns=["cell", "data"])) == ["units", "batch_size", "optimizer",
                                                                 "learning_rate", "epochs", "dropout"]


def test_summary_has_one_row_per_setting_in_setting_order_with_its_seeds_folded():
    runs = pd.DataFrame([
        _run(0, 0.90, units=16), _run(1, 0.94, units=16), _run(2, 0.50, "failed", units=16),
        _run(0, 0.80, units=8), _run(1, 0.86, units=8), _run(2, 0.83, units=8),
        _run(0, 0.70, cell="lstm", units=8),
    ])
    summary = summary_frame(runs)
    assert list(summary.columns) == [*setting_keys(runs), *SUMMARY_COLUMNS]
    assert summary[["cell", "units"]].values.tolist() == [["gru", 8], ["gru", 16], ["lstm", 8]]
    assert summary["n"].tolist() == [3, 2, 1] and str(summary["n"].dtype) == "Int64"
    assert summary["n_not_ok"].tolist() == [0, 1, 0]
    assert summary["test_accuracy_mean"].tolist() == pytest.approx([0.83, 0.92, 0.70])
    assert (summary.loc[0, "test_accuracy_ci_low"], summary.loc[0, "test_accuracy_ci_high"]) == pytest.approx(
        _logit_interval([0.80, 0.86, 0.83]))


def test_a_setting_with_a_missing_value_keeps_its_row():
    runs = pd.DataFrame([_run(0, 0.9, dropout=0.1), _run(1, 0.8, dropout=None), _run(2, 0.7, dropout=0.2)])
    summary = summary_frame(runs)
    assert summary["dropout"].tolist()[:2] == [0.1, 0.2] and math.isnan(summary["dropout"].tolist()[2])
    assert summary["test_accuracy_mean"].tolist() == pytest.approx([0.9, 0.7, 0.8])


def test_a_sweep_without_rows_has_a_summary_of_its_header_only():
    runs = pd.DataFrame([_run(0)]).iloc[:0]
    summary = summary_frame(runs)
    assert summary.empty and list(summary.columns) == [*setting_keys(runs), *SUMMARY_COLUMNS]


def test_a_table_of_one_key_folds_into_rows_keyed_by_it():
    runs = pd.DataFrame([{"units": 8, "status": "ok", "test_accuracy": 0.8},
                         {"units": 8, "status": "ok", "test_accuracy": 0.9},
                         {"units": 16, "status": "ok", "test_accuracy": 0.7}])
    summary = summary_frame(runs)
    assert summary["units"].tolist() == [8, 16] and summary["n"].tolist() == [2, 1]
