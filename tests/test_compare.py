"""`rnn-sweep compare` on two real sweeps, on doctored and broken CSVs, and without TensorFlow."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_cli, run_probe
from omegaconf import OmegaConf

from rnn_sweep.compare.pairing import load_results, match_keys
from rnn_sweep.config.validate import validate
from rnn_sweep.record.columns import label
from rnn_sweep.record.identity import config_hash
from rnn_sweep.record.result_files import collect_results

pytestmark = pytest.mark.slow



def _records(folder: Path) -> dict[str, dict]:
    return {record["cell"]: record for record in collect_results(folder)}


def _results_csv(folder: Path, out: Path) -> Path:
    pd.DataFrame(collect_results(folder)).to_csv(out, index=False)
    return out


TODAY = ["match", "test_accuracy_a", "test_accuracy_b", "test_accuracy_delta", "test_loss_a", "test_loss_b",
         "epoch_seconds_a", "epoch_seconds_b", "epoch_seconds_ratio", "train_samples_per_second_a",
         "train_samples_per_second_b", "train_samples_per_second_ratio", "status_a", "status_b", "run_dir_a",
         "run_dir_b"]
STATISTICS = ["n_a", "n_b", "delta_accuracy", "delta_ci_low", "delta_ci_high", "p_value", "p_holm", "test", "verdict",
              "time_ratio", "time_ratio_ci_low", "time_ratio_ci_high", "time_verdict"]


def _compare_csv(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, pd.DataFrame]:
    out = cwd / f"cmp-{time.monotonic_ns()}.csv"
    result = run_cli("compare", *args, "--csv", str(out), cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    return result, pd.read_csv(out, keep_default_na=False, na_values=[""])


def test_two_sweeps_with_different_seeds_pair_every_run(two_sweeps, tmp_path):
    a, b = two_sweeps
    result, table = _compare_csv(str(a), str(b), cwd=tmp_path)
    assert result.returncode == 0
    assert "simple_rnn" in result.stdout and "gru" in result.stdout and "Only in" not in result.stdout
    assert sorted(table["cell"]) == ["gru", "simple_rnn"] and set(table["match"]) == {"both"}
    assert "seed" not in table.columns  # seeds are folded, not paired
    settings = ["cell", "units", "batch_size", "optimizer", "learning_rate", "epochs", "data"]
    assert list(table.columns) == [*settings, *TODAY, *STATISTICS]
    first, second = _records(a), _records(b)
    for _, row in table.iterrows():
        old, new = first[row["cell"]], second[row["cell"]]
        assert (row["n_a"], row["n_b"]) == (1, 1)
        assert row["test_accuracy_a"] == pytest.approx(old["test_accuracy"], abs=1e-12)
        assert row["test_accuracy_delta"] == pytest.approx(new["test_accuracy"] - old["test_accuracy"], abs=1e-12)
        assert row["delta_accuracy"] == pytest.approx(row["test_accuracy_delta"])
        assert row["epoch_seconds_ratio"] == pytest.approx(new["epoch_seconds"] / old["epoch_seconds"])
        assert row["time_ratio"] == pytest.approx(row["epoch_seconds_ratio"])
        assert row["train_samples_per_second_ratio"] == pytest.approx(
            new["train_samples_per_second"] / old["train_samples_per_second"])
        # Seeds 1 and 2 draw different test images (data.limit_test): no McNemar test, the delta without a verdict.
        assert pd.isna(row["test"]) and pd.isna(row["verdict"]) and pd.isna(row["p_value"])
        assert f"{row['test_accuracy_delta']:+.4f}" in result.stdout
    assert result.stdout.count("no verdict:") == 2 and "different test images" in result.stdout


def test_two_3_seed_sweeps_that_differ_only_in_seeds_are_inconclusive(seed_sweeps, tmp_path):
    result, table = _compare_csv(*map(str, seed_sweeps), "--fail-if-worse", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "every setting of A is finished, ok and tested in B, none worse by more than 0" in result.stdout
    (row,) = table.to_dict("records")
    assert (row["n_a"], row["n_b"], row["test"], row["verdict"]) == (3, 3, "welch", "inconclusive")
    assert row["delta_ci_low"] < 0 < row["delta_ci_high"] and row["p_value"] > 0.05
    accuracies = [pd.read_csv(folder / "results.csv")["test_accuracy"] for folder in seed_sweeps]
    assert row["delta_accuracy"] == pytest.approx(accuracies[1].mean() - accuracies[0].mean())
    assert row["time_ratio_ci_low"] <= row["time_ratio"] <= row["time_ratio_ci_high"]
    assert row["time_verdict"] in ("faster", "slower", "inconclusive")
    assert "welch" in result.stdout and "inconclusive" in result.stdout and " [0." in result.stdout


def test_swapping_a_and_b_inverts_every_figure(seed_sweeps, tmp_path):
    _, forward = _compare_csv(*map(str, seed_sweeps), cwd=tmp_path)
    _, backward = _compare_csv(*map(str, seed_sweeps[::-1]), cwd=tmp_path)
    f, b = forward.iloc[0], backward.iloc[0]
    assert f["delta_accuracy"] == pytest.approx(-b["delta_accuracy"]) and f["p_value"] == pytest.approx(b["p_value"])
    assert (f["delta_ci_low"], f["delta_ci_high"]) == pytest.approx((-b["delta_ci_high"], -b["delta_ci_low"]))
    assert f["time_ratio"] == pytest.approx(1 / b["time_ratio"])
    assert (f["time_ratio_ci_low"], f["time_ratio_ci_high"]) == pytest.approx(
        (1 / b["time_ratio_ci_high"], 1 / b["time_ratio_ci_low"]))
    flipped = {"faster": "slower", "slower": "faster", "inconclusive": "inconclusive"}
    assert flipped[f["time_verdict"]] == b["time_verdict"]


def test_a_real_difference_is_worse_by_mcnemar_and_fails_the_gate(seed_sweeps, small_run, tmp_path):
    big = seed_sweeps[0] / "0"  # GRU 32 units, 2 epochs, seed 0; small_run: 4 units, 1 epoch, seed 0
    result, table = _compare_csv(str(big), str(small_run), "--on", "cell", "--fail-if-worse", "0.01", cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    (row,) = table.to_dict("records")
    assert (row["n_a"], row["n_b"], row["test"], row["verdict"]) == (1, 1, "mcnemar", "worse")
    assert row["p_value"] < 1e-6 and row["delta_ci_high"] < -0.1
    right = [np.load(folder / "test_predictions.npy") == np.load(folder / "test_labels.npy")
             for folder in (big, small_run)]
    b, c = int(np.sum(right[0] & ~right[1])), int(np.sum(~right[0] & right[1]))
    assert f"mcnemar b={b} c={c}" in result.stdout
    assert row["delta_accuracy"] == pytest.approx((c - b) / 500)
    assert f"fails on 1 setting(s): cell=gru: worse ({label('delta_accuracy')} " in " ".join(result.stdout.split())

    swapped, table = _compare_csv(str(small_run), str(big), "--on", "cell", "--fail-if-worse", "0.01", cwd=tmp_path)
    assert swapped.returncode == 0 and table["verdict"].tolist() == ["better"]
    assert table["delta_accuracy"].iloc[0] == pytest.approx(-row["delta_accuracy"])


def test_fail_if_worse_needs_a_worse_verdict_and_a_drop_beyond_x(seed_sweeps, tmp_path):
    a_csv = seed_sweeps[0] / "results.csv"
    doctored = pd.read_csv(a_csv).assign(test_accuracy=lambda frame: frame["test_accuracy"] - 0.2)
    doctored.to_csv(tmp_path / "b.csv", index=False)
    result, table = _compare_csv(str(a_csv), str(tmp_path / "b.csv"), "--fail-if-worse", "0.1", cwd=tmp_path)
    assert result.returncode == 1 and table["verdict"].tolist() == ["worse"] and table["test"].tolist() == ["welch"]
    out = " ".join(result.stdout.split())
    assert "fails on 1 setting(s):" in out and f": worse ({label('delta_accuracy')} -0.2" in out
    assert run_cli("compare", str(a_csv), str(tmp_path / "b.csv"), "--fail-if-worse", "0.25",
                   cwd=tmp_path).returncode == 0  # worse, but by 0.2
    assert run_cli("compare", str(a_csv), str(tmp_path / "b.csv"), cwd=tmp_path).returncode == 0

    # A failed run in B where A's ran fine fails the gate whatever the threshold.
    doctored = pd.read_csv(a_csv)
    doctored.loc[0, ["status", "test_accuracy"]] = ["failed", None]
    doctored.to_csv(tmp_path / "lost.csv", index=False)
    lost = run_cli("compare", str(a_csv), str(tmp_path / "lost.csv"), "--fail-if-worse", "0.5", cwd=tmp_path)
    assert lost.returncode == 1 and "2 ok, 1 failed" in lost.stdout


def test_bad_predictions_files_get_one_clear_line(seed_sweeps, small_run, tmp_path):
    big, small = tmp_path / "big", tmp_path / "small"
    shutil.copytree(seed_sweeps[0] / "0", big)
    shutil.copytree(small_run, small)
    np.save(small / "test_predictions.npy", np.load(small / "test_predictions.npy")[:100])
    error = _one_paragraph_error(run_cli("compare", str(big), str(small), "--on", "cell", cwd=tmp_path))
    assert str(small / "test_predictions.npy") in error and "holds 100 classes" in error and "500 test images" in error

    (small / "test_predictions.npy").write_bytes(b"not numpy")
    error = _one_paragraph_error(run_cli("compare", str(big), str(small), "--on", "cell", cwd=tmp_path))
    assert f"Cannot read {small / 'test_predictions.npy'}" in error

    (small / "test_predictions.npy").unlink()
    result, table = _compare_csv(str(big), str(small), "--on", "cell", "--fail-if-worse", "0", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr  # no test could be made: never a pass
    assert pd.isna(table["test"].iloc[0]) and pd.isna(table["verdict"].iloc[0])
    assert "no verdict:" in result.stdout and "test_predictions.npy" in result.stdout
    assert "cell=gru: untested" in " ".join(result.stdout.split())
    allowed = run_cli("compare", str(big), str(small), "--on", "cell", "--fail-if-worse", "0", "--allow-untested",
                      cwd=tmp_path)
    assert allowed.returncode == 0 and "1 pair(s) untested, not failed" in " ".join(allowed.stdout.split())

    # Predictions of another run under this run's name: the scores disagree with the record, and compare says so.
    np.save(small / "test_predictions.npy", np.load(big / "test_predictions.npy"))
    error = _one_paragraph_error(run_cli("compare", str(big), str(small), "--on", "cell", cwd=tmp_path))
    assert "belong to another run" in error


def test_unpaired_runs_are_listed(two_sweeps, tmp_path):
    a, b = two_sweeps
    result = run_cli("compare", str(a), str(b / "0"), cwd=tmp_path)  # B: one run folder, the simple_rnn job
    assert result.returncode == 0, result.stderr
    assert "Only in A" in result.stdout and "cell=gru" in result.stdout


def _one_paragraph_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    return result.stderr


def test_clear_errors(two_sweeps, tmp_path):
    a_csv = _results_csv(two_sweeps[0], tmp_path / "a.csv")
    pd.read_csv(a_csv).drop(columns=["test_accuracy"]).to_csv(tmp_path / "bad.csv", index=False)
    error = _one_paragraph_error(run_cli("compare", str(a_csv), str(tmp_path / "bad.csv"), cwd=tmp_path))
    assert "B has no column test_accuracy" in error
    error = _one_paragraph_error(run_cli("compare", str(a_csv), str(tmp_path / "missing.csv"), cwd=tmp_path))
    assert "missing.csv does not exist" in error
    error = _one_paragraph_error(run_cli("compare", *map(str, two_sweeps), "--on", "cell,seed", cwd=tmp_path))
    assert "No run of A matches a run of B on cell, seed" in error
    error = _one_paragraph_error(run_cli("compare", str(a_csv), str(a_csv), "--on", "cell,colour", cwd=tmp_path))
    assert "colour" in error
    error = _one_paragraph_error(run_cli("compare", str(a_csv), str(a_csv), "--fail-if-worse", "-1", cwd=tmp_path))
    assert "--fail-if-worse" in error and "-1" in error
    error = _one_paragraph_error(run_cli("compare", str(a_csv), str(a_csv), "--alpha", "1.5", cwd=tmp_path))
    assert "--alpha" in error and "1.5 is not between 0 and 1" in error
    error = _one_paragraph_error(run_cli("compare", str(a_csv), str(a_csv), "--on", "units", cwd=tmp_path))
    assert "differ in cell (simple_rnn, gru)" in error and "--on units,cell" in error


def test_compare_never_imports_tensorflow(two_sweeps, tmp_path):
    for args in (["compare", "--help"], ["compare", *map(str, two_sweeps)]):
        result = run_probe(*args, cwd=tmp_path, timeout=120)  # a hang fails as TimeoutExpired, not as slowness
        assert result.returncode == 0, result.stderr
        assert "TENSORFLOW-NOT-IMPORTED" in result.stdout
    assert "--fail-if-worse" in run_cli("compare", "--help", cwd=tmp_path).stdout


def test_tensorboard_writes_event_files_in_every_run(two_sweeps):
    for job in ("0", "1"):
        events = list((two_sweeps[1] / job / "tensorboard").rglob("events.out.tfevents.*"))
        assert {path.parent.name for path in events} == {"train", "validation"}  # Keras' scalars per split
        assert all(path.stat().st_size > 0 for path in events)
    # The sweep's HParams view: the experiment, and one run per job (its session beside links to its scalars).
    runs = [path for path in (two_sweeps[1] / "tensorboard").iterdir() if path.is_dir()]
    assert len(runs) == 2 and all(list(run.glob("events.out.tfevents.*")) for run in runs)
    assert not (two_sweeps[0] / "0" / "tensorboard").exists()
    # Watching training changes nothing that is trained: the run's identity (config_hash) ignores the switch.
    saved = OmegaConf.load(two_sweeps[1] / "0" / ".hydra" / "config.yaml")
    assert saved.train.tensorboard is True
    switched_off = OmegaConf.merge(saved, {"train": {"tensorboard": False}})
    assert config_hash(validate(saved)) == config_hash(validate(switched_off)) == _records(two_sweeps[1])[
        "simple_rnn"]["config_hash"]


def test_match_keys_add_settings_that_vary_inside_a_table(tmp_path):
    base = {"cell": "gru", "units": 8, "batch_size": 64, "optimizer": "adam", "learning_rate": 0.001, "epochs": 1}
    tables = {
        "seeds": [{**base, "seed": 1, "overrides": "model.dropout=0.1"}, {**base, "seed": 2, "overrides": "seed=2"}],
        "one": [{**base, "seed": 3, "overrides": "model.dropout=0.2 data.path=/x"}],
    }
    for name, rows in tables.items():
        pd.DataFrame(rows).to_csv(tmp_path / f"{name}.csv", index=False)
    seeds, one = (load_results(tmp_path / f"{name}.csv") for name in tables)
    core = ["cell", "units", "batch_size", "optimizer", "learning_rate", "epochs", "data"]
    assert match_keys(seeds, one) == [*core, "model.dropout"]  # seeds are folded unless --on names seed
    assert match_keys(one, one) == core  # data.path says where, not what: never a key
