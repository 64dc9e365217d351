"""Every CSV rnn-sweep writes opens with plain `pd.read_csv(path)`: one header line of named columns, typed
values, lists as JSON, and only the settings that ran."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest
from helpers.cli import run_cli
from helpers.runs import TINY

from rnn_sweep.record.columns import COLUMNS, LIST_COLUMNS, NUMERIC_COLUMNS, SUMMARY_COLUMNS
from rnn_sweep.record.result_files import write_result
from rnn_sweep.search.study import JOB, OVERRIDES
from rnn_sweep.search.study_files import OPTUNA_CSV, report_study

NUMBERS = ("int64", "float64")


def _plain(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path)
    assert not [name for name in table.columns if str(name).startswith("Unnamed")], path
    assert not table.empty, path
    return table


def _pivot(path: Path) -> pd.DataFrame:
    """A pivot: plain, and no empty row or column (only the settings that ran)."""
    table = _plain(path)
    assert not table.isna().all(axis=0).any() and not table.iloc[:, 1:].isna().all(axis=1).any(), path
    return table


def _check_results(sweep: Path) -> pd.DataFrame:
    results = _plain(sweep / "results.csv")
    for column in NUMERIC_COLUMNS:
        assert str(results[column].dtype) in NUMBERS, column
    for column in LIST_COLUMNS:
        assert all(isinstance(json.loads(text), list) for text in results[column]), column
    summary = _plain(sweep / "summary.csv")
    assert list(summary.columns[-len(SUMMARY_COLUMNS):]) == list(SUMMARY_COLUMNS)
    assert all(str(summary[column].dtype) in NUMBERS for column in SUMMARY_COLUMNS)
    return results


def _sweep(tmp_path: Path, mnist_path: str, name: str, *overrides: str) -> Path:
    folder = tmp_path / name
    result = run_cli("-m", *TINY, *overrides, f"hydra.sweep.dir={folder}", cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


@pytest.mark.slow
def test_every_csv_of_a_grid_and_a_seeded_grid_opens_with_plain_read_csv(tmp_path, mnist_path, seeded_grid):
    grid = _sweep(tmp_path, mnist_path, "grid", "model=simple_rnn,gru", "train.batch_size=32,64",
                  "data.limit_train=200", "data.limit_test=100", "train.epochs=1")
    results = _check_results(grid)
    accuracy, timing = _pivot(grid / "accuracy.csv"), _pivot(grid / "timing.csv")
    assert list(accuracy.columns) == ["cell", "batch_size=32", "batch_size=64"]
    assert list(accuracy["cell"]) == ["gru", "simple_rnn"]
    assert all(str(accuracy[column].dtype) == "float64" for column in accuracy.columns[1:])
    gru = results[(results["cell"] == "gru") & (results["batch_size"] == 64)]["test_accuracy"].iloc[0]
    assert accuracy.set_index("cell").loc["gru", "batch_size=64"] == pytest.approx(gru)
    assert list(timing.columns) == ["cell", *(f"{value} batch_size={size}" for value in (
        "epoch_seconds", "train_samples_per_second") for size in (32, 64))]

    seeded = seeded_grid[0]
    _check_results(seeded)
    accuracy = _pivot(seeded / "accuracy.csv")
    assert list(accuracy.columns) == ["cell", "units", "seed=0", "seed=1"]
    assert list(zip(accuracy["cell"], accuracy["units"], strict=True)) == [
        ("gru", 4), ("gru", 8), ("simple_rnn", 4), ("simple_rnn", 8)]
    assert str(accuracy["units"].dtype) == "int64"
    assert set(COLUMNS) <= set(pd.read_csv(seeded / "results.csv").columns)


# A search's trials: settings Optuna picked, not a cross product of the values that occur.
TRIALS = (("gru", 8, 32, 0.001), ("lstm", 16, 64, 0.003), ("gru", 16, 64, 0.001))


def test_a_searchs_pivots_hold_only_the_settings_its_trials_ran(tmp_path):
    sweep = tmp_path / "search"
    for job, (cell, units, batch_size, rate) in enumerate(TRIALS):
        write_result(sweep / str(job), {
            **dict.fromkeys(COLUMNS), "run_dir": str(sweep / str(job)), "status": "ok", "cell": cell, "units": units,
            "batch_size": batch_size, "optimizer": "adam", "learning_rate": rate, "epochs": 2, "seed": 0,
            "test_accuracy": 0.5 + job / 10, "epoch_seconds": 2.0, "train_samples_per_second": 900.0,
            "epochs_completed": 2, "device": "CPU", "overrides": [f"model={cell}"]})
    assert run_cli("report", str(sweep), cwd=tmp_path).returncode == 0
    accuracy = _pivot(sweep / "accuracy.csv")
    assert list(accuracy.columns) == ["cell", "units", "batch_size=32 learning_rate=0.001",
                                      "batch_size=64 learning_rate=0.001", "batch_size=64 learning_rate=0.003"]
    assert list(zip(accuracy["cell"], accuracy["units"], strict=True)) == [("gru", 8), ("gru", 16), ("lstm", 16)]
    assert accuracy.notna().sum().sum() - 2 * len(accuracy) == len(TRIALS)  # one value per trial
    _pivot(sweep / "timing.csv")


def _preset_sweep(folder: Path, seeds: list[int]) -> None:
    for job, seed in enumerate(seeds):
        write_result(folder / str(job), {
            **dict.fromkeys(COLUMNS), "run_dir": str(folder / str(job)), "status": "ok", "cell": "lstm",
            "units": 128, "batch_size": 128, "optimizer": "adam", "learning_rate": 0.003, "epochs": 10,
            "seed": seed, "test_accuracy": 0.99 + seed / 1000, "train_seconds": 300.0, "epoch_seconds": 21.0,
            "epochs_completed": 10, "device": "CPU", "preset": "best_lstm", "overrides": f"experiment=best_lstm "
            f"seed={seed}", "target_test_accuracy": 0.99,
        })


def test_presets_csv_has_the_same_types_for_one_seed_or_many(tmp_path):
    tables = {}
    for seeds in ([0], [0, 1, 2]):
        folder = tmp_path / f"seeds{len(seeds)}"
        _preset_sweep(folder, seeds)
        assert run_cli("report", str(folder), cwd=tmp_path).returncode == 0
        tables[len(seeds)] = _plain_presets(folder / "presets.csv")
        assert json.loads(tables[len(seeds)]["seeds"].iloc[0]) == seeds
        assert json.loads(tables[len(seeds)]["test_accuracies"].iloc[0]) == pytest.approx(
            [0.99 + seed / 1000 for seed in seeds])
    assert tables[1].dtypes.astype(str).to_dict() == tables[3].dtypes.astype(str).to_dict()


def _plain_presets(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path)
    assert not [name for name in table.columns if str(name).startswith("Unnamed")]
    return table.drop(columns="test_accuracy_std")  # empty for one seed: no spread, a float column either way


def test_optuna_csv_keeps_each_trials_overrides_as_json(tmp_path):
    study = optuna.create_study(direction="maximize")
    overrides = ["model=lstm", "optimizer.learning_rate=0.00101", "hydra.run.dir='a b'"]
    trial = study.ask()
    trial.set_user_attr(JOB, 0)
    trial.set_user_attr(OVERRIDES, overrides)
    study.tell(trial, 0.5)
    report_study(study, tmp_path)
    table = pd.read_csv(tmp_path / OPTUNA_CSV)
    assert json.loads(table[f"user_attrs_{OVERRIDES}"].iloc[0]) == overrides
