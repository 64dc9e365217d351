"""The command line as a user meets it: bad input refused up front, one real run end to end."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import run_cli, run_probe
from omegaconf import OmegaConf

from rnn_sweep.config.paths import conf_dir
from rnn_sweep.config.validate import validate
from rnn_sweep.record.columns import CONTRACT_COLUMNS, HISTORY_COLUMNS
from rnn_sweep.record.identity import config_hash


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["model=transformer"], ["transformer", "simple_rnn, lstm, gru"]),
        (["optimizer=adagrad"], ["adagrad", "adam, sgd, rmsprop, adamw"]),
        (["model.units=0"], ["model.units=0", ">= 1"]),
        (["train.batch_size=-5"], ["train.batch_size=-5", ">= 1"]),
        (["model.unitz=5"], ["model.unitz", "units"]),
        (["optimizer=adam", "optimizer.momentum=0.9"], ["optimizer.momentum", "learning_rate"]),
        (["train.epochs=two"], ["train.epochs", "two"]),
        (["data.path=/no/such/folder"], ["/no/such/folder", "RNN_SWEEP_DATA"]),
        (["-m", "model.units=16,0"], ["model.units=0"]),
    ],
)
def test_bad_input_exits_2_before_tensorflow_with_one_paragraph(tmp_path, args, expected):
    result = run_probe(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in expected:
        assert fragment in result.stderr
    assert "TENSORFLOW-NOT-IMPORTED" in result.stdout
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_help_works_from_any_folder(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for text in ("rnn-sweep", "model: gru, lstm, simple_rnn", "optimizer: adam, adamw, rmsprop, sgd", "units: 128"):
        assert text in result.stdout
    presets = sorted(path.stem for path in (conf_dir() / "experiment").glob("*.yaml"))
    assert f"experiment (named presets): {', '.join(presets)}" in result.stdout



def test_version_names_rnn_sweep_and_its_libraries_without_importing_tensorflow(tmp_path):
    from importlib.metadata import version

    result = run_probe("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:5] == [f"rnn-sweep {version('rnn-sweep')}", f"TensorFlow {version('tensorflow')}",
                         f"Keras {version('keras')}", f"Hydra {version('hydra-core')}", f"Optuna {version('optuna')}"]
    assert "TENSORFLOW-NOT-IMPORTED" in result.stdout


@pytest.mark.slow
def test_help_tells_seeds_search_resume_and_every_command(tmp_path):
    from rnn_sweep.commands import SUBCOMMANDS

    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for text in ("seeds=N", "+hparams_search=val_accuracy", "hydra.sweep.dir=DIR", "--version",
                 "rnn-sweep reproduce RUN_DIR [OVERRIDES]"):
        assert text in result.stdout
    for command in SUBCOMMANDS:
        assert f"rnn-sweep {command} " in result.stdout


@pytest.mark.parametrize(("command", "required", "optional"), [
    ("reproduce", "RUN_DIR", "[OVERRIDES ...]"), ("compare", "A, B", "[--csv OUT]"), ("report", "DIR", "[--html]"),
])
def test_a_command_without_its_arguments_names_the_required_ones_and_shows_the_optional(
        tmp_path, command, required, optional):
    result = run_probe(command, cwd=tmp_path)
    assert result.returncode == 2
    error = result.stderr.strip()
    assert error.startswith(f"error: The following arguments are required: {required}. Usage: rnn-sweep {command}")
    assert optional in error and "([...] is optional)" in error and len(error.splitlines()) == 1


@pytest.mark.slow
def test_one_real_run_writes_a_complete_run_folder(tmp_path, mnist_path):
    result = run_cli(
        "model=gru", "model.units=16", "train.epochs=2", "train.batch_size=64",
        "data.limit_train=1200", "data.limit_test=500", cwd=tmp_path, data=mnist_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "\x1b" not in result.stdout and "ETA" not in result.stdout  # a pipe: plain lines, no live display
    assert "epoch 2/2  loss" in result.stdout
    run_dirs = list((tmp_path / "outputs" / "runs").iterdir())
    assert len(run_dirs) == 1
    run_dir = run_dirs[0]
    for name in (".hydra/config.yaml", ".hydra/overrides.yaml", "result.json", "history.csv", "model.keras"):
        assert (run_dir / name).is_file(), name
    assert not list(run_dir.glob(".*tmp*")), "temporary files left behind"

    record = json.loads((run_dir / "result.json").read_text())
    assert set(CONTRACT_COLUMNS) <= set(record)
    assert record["status"] == "ok" and record["error"] is None
    assert Path(record["run_dir"]) == run_dir
    assert (record["cell"], record["units"], record["batch_size"], record["optimizer"]) == ("gru", 16, 64, "adam")
    assert record["epochs"] == record["epochs_completed"] == 2
    assert record["params"] == 3 * (28 * 16 + 16 * 16 + 2 * 16) + 16 * 10 + 10
    assert 0.1 < record["test_accuracy"] <= 1 and 0.1 < record["best_val_accuracy"] <= 1
    assert 0 < record["test_loss"] < 10 and math.isfinite(record["test_loss"])
    assert record["test_samples"] == 500 and record["train_samples"] + record["val_samples"] == 1200
    assert 0 < record["epoch_seconds"] < record["train_seconds"]
    assert 0 < record["first_epoch_seconds"] < record["train_seconds"]
    assert record["train_samples_per_second"] > 10 and record["eval_samples_per_second"] > 10
    assert record["device"].startswith(("CPU", "GPU"))
    assert record["started_at"] <= record["finished_at"]
    assert record["steps_per_execution"] >= 1 and record["precision"] == "float32" and record["project_inputs"]
    assert record["batch_shards"] == 1  # a GRU of 16 units has too little work per step to shard
    assert 0 < record["setup_seconds"] < 600 and record["started_at"] <= record["first_step_at"]
    assert record["trace_seconds"] == pytest.approx(max(0.0, record["first_epoch_seconds"] - record["epoch_seconds"]))
    assert record["wrap_up_seconds"] > 0

    # model.keras holds Keras' own GRU (not rnn-sweep's ProjectedGRU), so it loads where rnn-sweep is not installed.
    load = "import keras, sys; print(type(keras.saving.load_model(sys.argv[1]).get_layer('rnn')).__name__)"
    loaded = subprocess.run([sys.executable, "-I", "-c", load, str(run_dir / "model.keras")],
                            capture_output=True, text=True, check=False)
    assert loaded.stdout.strip() == "GRU", loaded.stderr[-2000:]

    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert record["config_hash"] == config_hash(validate(saved))

    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert set(HISTORY_COLUMNS) == set(rows[0])
    assert all(0 <= float(row["val_accuracy"]) <= 1 and float(row["epoch_seconds"]) > 0 for row in rows)
    assert "test accuracy" in result.stdout and "epoch 2/2" in result.stdout

    keras = pytest.importorskip("keras")
    assert keras.saving.load_model(run_dir / "model.keras").count_params() == record["params"]


@pytest.mark.slow
def test_save_model_off_and_diverged_run_exits_nonzero(tmp_path, mnist_path):
    result = run_cli(
        "model=simple_rnn", "model.units=8", "optimizer=sgd", "optimizer.learning_rate=1e4", "train.epochs=3",
        "train.save_model=false", "data.limit_train=300", "data.limit_test=100", cwd=tmp_path, data=mnist_path,
    )
    assert result.returncode == 1
    assert "diverged" in result.stderr and "Traceback" not in result.stderr
    (run_dir,) = (tmp_path / "outputs" / "runs").iterdir()
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "diverged" and "loss became" in record["error"]
    assert not (run_dir / "model.keras").exists()
