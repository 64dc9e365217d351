"""`rnn-sweep compare` on two real sweeps, on doctored and broken CSVs, and without TensorFlow."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli, run_probe
from omegaconf import OmegaConf

from rnn_sweep.config.validate import validate
from rnn_sweep.results.pairing import load_results, match_keys
from rnn_sweep.results.record import collect_results, config_hash

pytestmark = pytest.mark.slow



def _records(folder: Path) -> dict[str, dict]:
    return {record["cell"]: record for record in collect_results(folder)}


def _results_csv(folder: Path, out: Path) -> Path:
    pd.DataFrame(collect_results(folder)).to_csv(out, index=False)
    return out


def test_two_sweeps_with_different_seeds_pair_every_run(two_sweeps, tmp_path):
    a, b = two_sweeps
    result = run_cli("compare", str(a), str(b), "--csv", str(tmp_path / "cmp.csv"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "simple_rnn" in result.stdout and "gru" in result.stdout and "Only in" not in result.stdout
    table = pd.read_csv(tmp_path / "cmp.csv")
    assert sorted(table["cell"]) == ["gru", "simple_rnn"] and set(table["match"]) == {"both"}
    assert "seed" not in table.columns  # seed differs between the sweeps, not inside them
    first, second = _records(a), _records(b)
    for _, row in table.iterrows():
        old, new = first[row["cell"]], second[row["cell"]]
        assert row["test_accuracy_a"] == pytest.approx(old["test_accuracy"], abs=1e-12)
        assert row["test_accuracy_delta"] == pytest.approx(new["test_accuracy"] - old["test_accuracy"], abs=1e-12)
        assert row["epoch_seconds_ratio"] == pytest.approx(new["epoch_seconds"] / old["epoch_seconds"])
        assert row["train_samples_per_second_ratio"] == pytest.approx(
            new["train_samples_per_second"] / old["train_samples_per_second"])
        assert f"{row['test_accuracy_delta']:+.4f}" in result.stdout


def test_fail_if_worse_fires_on_a_doctored_csv(two_sweeps, tmp_path):
    a_csv = _results_csv(two_sweeps[0], tmp_path / "a.csv")
    doctored = pd.read_csv(a_csv)
    doctored.loc[doctored["cell"] == "gru", "test_accuracy"] -= 0.05
    b_csv = tmp_path / "b.csv"
    doctored.to_csv(b_csv, index=False)
    worse = run_cli("compare", str(a_csv), str(b_csv), "--fail-if-worse", "0.01", cwd=tmp_path)
    assert worse.returncode == 1, worse.stderr
    assert "1 run(s) worse by more than 0.01" in worse.stdout and "cell=gru" in worse.stdout
    assert run_cli("compare", str(a_csv), str(b_csv), "--fail-if-worse", "0.06", cwd=tmp_path).returncode == 0
    assert run_cli("compare", str(a_csv), str(b_csv), cwd=tmp_path).returncode == 0


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


def test_compare_never_imports_tensorflow(two_sweeps, tmp_path):
    for args in (["compare", "--help"], ["compare", *map(str, two_sweeps)]):
        start = time.perf_counter()
        result = run_probe(*args, cwd=tmp_path, timeout=60)
        seconds = time.perf_counter() - start
        assert result.returncode == 0, result.stderr
        assert "TENSORFLOW-NOT-IMPORTED" in result.stdout
        assert seconds < 10, f"compare took {seconds:.1f}s"  # ~1 s; generous for a loaded CI machine
    assert "--fail-if-worse" in run_cli("compare", "--help", cwd=tmp_path).stdout


def test_tensorboard_writes_event_files_in_every_run(two_sweeps):
    for job in ("0", "1"):
        events = list((two_sweeps[1] / job / "tensorboard").rglob("events.out.tfevents.*"))
        # Keras' scalars per split, and the sweep's HParams session for this job beside them.
        assert {path.parent.name for path in events} == {"train", "validation", "tensorboard"}
        assert all(path.stat().st_size > 0 for path in events)
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
    assert match_keys(seeds, one) == [*core, "seed", "model.dropout"]
    assert match_keys(one, one) == core  # data.path says where, not what: never a key
