"""Seeds as a sweep axis: `seeds=N`, what each run keeps for statistics, summary.csv, error bars, resume."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_cli
from helpers.runs import LEARNS
from matplotlib.container import ErrorbarContainer

from rnn_sweep.record.columns import SUMMARY_COLUMNS
from rnn_sweep.report.plots import _accuracy_vs_units

pytestmark = pytest.mark.slow

T_975_2 = 4.303  # t(0.975, 2 degrees of freedom), from any t table


def test_seeds_3_runs_every_setting_on_seeds_0_1_2_and_10_11_12(seed_sweeps):
    for folder, seeds in zip(seed_sweeps, ([0, 1, 2], [10, 11, 12]), strict=True):
        results = pd.read_csv(folder / "results.csv")
        assert sorted(results["seed"]) == seeds and (results["status"] == "ok").all()
        assert results[["cell", "units", "epochs"]].drop_duplicates().values.tolist() == [["gru", 32, 2]]


def test_every_run_keeps_its_predictions_and_timing_noise(seed_sweeps, small_run):
    hashes = {}
    for run in [*sorted(seed_sweeps[0].glob("[0-9]")), small_run]:
        record = json.loads((run / "result.json").read_text())
        predictions = np.load(run / "test_predictions.npy")
        labels = np.load(run / "test_labels.npy")
        assert predictions.shape == labels.shape == (record["test_samples"],) == (500,)
        assert np.issubdtype(predictions.dtype, np.integer) and set(np.unique(predictions)) <= set(range(10))
        assert abs((predictions == labels).mean() - record["test_accuracy"]) <= 1 / 500
        epochs = record["epochs_completed"]
        assert len(record["epoch_seconds_all"]) == len(record["epoch_cpu_seconds_all"]) == epochs
        assert all(seconds > 0 for seconds in record["epoch_seconds_all"] + record["epoch_cpu_seconds_all"])
        assert record["epoch_seconds"] == pytest.approx(record["epoch_seconds_all"][-1])  # 1 or 2 epochs
        assert record["epoch_seconds_iqr"] is None  # fewer than two epochs after the first: no spread to give
        assert record["load_average_1m"] >= 0
        hashes[(record["seed"], run == small_run)] = record["test_set_hash"]
    # limit_test draws its images with the seed: the same seed, the same images, whatever the model.
    assert hashes[(0, False)] == hashes[(0, True)] and len({hashes[(seed, False)] for seed in (0, 1, 2)}) == 3


def test_summary_csv_folds_the_seeds_with_a_logit_t_interval(seed_sweeps, two_sweeps, tmp_path):
    results = pd.read_csv(seed_sweeps[0] / "results.csv")
    summary = pd.read_csv(seed_sweeps[0] / "summary.csv")
    assert list(summary.columns[-len(SUMMARY_COLUMNS):]) == list(SUMMARY_COLUMNS) and len(summary) == 1
    row = summary.iloc[0]
    accuracies = results["test_accuracy"]
    logits = np.log(accuracies / (1 - accuracies))  # the interval is the t-interval of the logits, mapped back
    half_width = T_975_2 * logits.std(ddof=1) / math.sqrt(3)
    low, high = (1 / (1 + np.exp(-(logits.mean() + side * half_width))) for side in (-1, 1))
    assert (row["n"], row["n_not_ok"]) == (3, 0)
    assert row["test_accuracy_mean"] == pytest.approx(accuracies.mean())
    assert row["test_accuracy_sd"] == pytest.approx(accuracies.std(ddof=1))
    assert row["test_accuracy_ci_low"] == pytest.approx(low, rel=1e-3)
    assert row["test_accuracy_ci_high"] == pytest.approx(high, rel=1e-3)
    steady = [json.loads(text)[1] for text in results["epoch_seconds_all"]]  # 2 epochs each: the second
    assert row["epoch_seconds_median"] == pytest.approx(np.median(steady))
    assert row["epoch_seconds_iqr"] == pytest.approx(np.percentile(steady, 75) - np.percentile(steady, 25))
    assert row["train_samples_per_second_median"] == pytest.approx(results["train_samples_per_second"].median())

    one_seed = pd.read_csv(two_sweeps[0] / "summary.csv")  # one run per setting: n = 1, no interval
    assert (one_seed["n"] == 1).all() and one_seed["test_accuracy_ci_low"].isna().all()

    report = run_cli("report", str(seed_sweeps[0]), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    interval = f"[{row['test_accuracy_ci_low']:.4f}, {row['test_accuracy_ci_high']:.4f}]"
    assert f"{row['test_accuracy_mean']:.4f} {interval} (3)" in report.stdout


def test_the_accuracy_plot_has_error_bars_of_the_interval(seed_sweeps):
    results = pd.read_csv(seed_sweeps[0] / "results.csv")
    summary = pd.read_csv(seed_sweeps[0] / "summary.csv").iloc[0]
    figure = _accuracy_vs_units(results, seed_sweeps[0])
    (bars,) = [c for axes in figure.axes for c in axes.containers if isinstance(c, ErrorbarContainer)]
    (segment,) = bars.lines[2][0].get_segments()
    assert segment[:, 1] == pytest.approx([summary["test_accuracy_ci_low"], summary["test_accuracy_ci_high"]])


def test_resume_retrains_only_the_missing_seed(seed_sweeps, mnist_path, tmp_path):
    folder = shutil.copytree(seed_sweeps[0], tmp_path / seed_sweeps[0].name)  # the run's other tests read the original
    missing = folder / "1" / "result.json"
    before = json.loads(missing.read_text())
    missing.unlink()
    result = run_cli("-m", *LEARNS, "model.units=32", "train.epochs=2", "seeds=3", f"hydra.sweep.dir={folder}",
                     cwd=folder.parent, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("skipped:") == 2 and result.stdout.count("epoch 2/2") == 1
    after = json.loads(missing.read_text())
    assert (after["seed"], after["test_accuracy"]) == (1, before["test_accuracy"])  # deterministic: the same run
    assert len(pd.read_csv(folder / "results.csv")) == 3
