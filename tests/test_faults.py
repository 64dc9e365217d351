"""Faults caused for real: signals to real processes, damaged files, and every kind of bad override."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnn_sweep.data import IDX_STEMS
from rnn_sweep.errors import UserError
from rnn_sweep.preflight import preflight

# Keys a user might type, misspellings and keys of another optimizer included.
KEYS = [
    "model.units", "model.unitz", "model.activation", "model.dropout", "model.recurrent_dropout", "model.cell",
    "optimizer.learning_rate", "optimizer.momentum", "optimizer.beta_1", "optimizer.rho", "optimizer.clipnorm",
    "train.batch_size", "train.epochs", "train.validation_split", "train.device", "train.shuffle",
    "train.max_loss", "data.limit_train", "data.limit_test", "seed", "sed", "train.batchsize",
]
GROUPS = {"model": ["simple_rnn", "lstm", "gru", "transformer", "LSTM"], "optimizer": ["adam", "sgd", "rmsprop",
          "adamw", "adagrad"]}
VALUES = st.one_of(
    st.integers(-5, 300).map(str),
    st.floats(-2, 2, allow_nan=False).map(lambda x: f"{x:.3g}"),
    st.sampled_from(["true", "false", "null", "abc", "tanh", "relu", "1e-3", "0", "1", "cpu", "tpu", ""]),
)
OVERRIDE = st.one_of(
    st.tuples(st.sampled_from(KEYS), VALUES).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.sampled_from(sorted(GROUPS)).flatmap(lambda g: st.sampled_from(GROUPS[g]).map(lambda o: f"{g}={o}")),
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(overrides=st.lists(OVERRIDE, max_size=4))
def test_any_override_validates_or_fails_with_a_user_error(overrides, tmp_path_factory, monkeypatch):
    """Every command line either validates or fails with a UserError (exit 2, one paragraph); nothing else."""
    monkeypatch.chdir(tmp_path_factory.getbasetemp())
    monkeypatch.setenv("RNN_SWEEP_DATA", str(tmp_path_factory.getbasetemp()))  # exists; contents not needed
    try:
        preflight(overrides)
    except UserError as error:
        message = str(error)
        assert "\n" not in message.strip() and len(message) < 1200
        assert "Traceback" not in message


def test_output_folder_that_cannot_be_created_fails_before_training(tmp_path, mnist_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(f"hydra.run.dir={blocker}/run", cwd=tmp_path, data=mnist_path)
    assert result.returncode == 2
    assert str(blocker) in result.stderr and "hydra.run.dir" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_output_folder_fails_before_training(tmp_path, mnist_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = run_cli(f"hydra.run.dir={locked}/run", cwd=tmp_path, data=mnist_path)
    assert result.returncode == 2 and str(locked) in result.stderr


def test_corrupt_gzip_fails_naming_the_file_before_training(tmp_path, mnist_path):
    data = tmp_path / "mnist"
    data.mkdir()
    source = Path(mnist_path)
    if source.is_file():
        pytest.skip("needs the IDX files, not an npz")
    for stem in IDX_STEMS.values():
        (data / f"{stem}.gz").symlink_to(source / f"{stem}.gz")
    labels = data / "train-labels-idx1-ubyte.gz"
    labels.unlink()
    labels.write_bytes((source / "train-labels-idx1-ubyte.gz").read_bytes()[:4000])  # truncated mid-stream
    result = run_cli("train.epochs=1", f"data.path={data}", cwd=tmp_path)
    assert result.returncode != 0
    assert "train-labels-idx1-ubyte.gz" in result.stderr and "Traceback" not in result.stderr
    (run_dir,) = (tmp_path / "outputs" / "runs").iterdir()
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "failed" and "train-labels-idx1-ubyte.gz" in record["error"]
    assert not (run_dir / "history.csv").exists()


@pytest.mark.slow
def test_ctrl_c_during_a_run_keeps_finished_epochs(tmp_path, mnist_path):
    env = {**os.environ, "RNN_SWEEP_DATA": mnist_path, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rnn_sweep", "model=simple_rnn", "model.units=8", "train.epochs=500",
         "train.batch_size=256", "data.limit_train=600", "data.limit_test=100"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    history = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        found = list(tmp_path.glob("outputs/runs/*/history.csv"))
        if found and len(found[0].read_text().splitlines()) >= 3:  # header + two epochs
            history = found[0]
            break
        time.sleep(0.2)
    assert history is not None, "the run never finished two epochs"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr

    record = json.loads((history.parent / "result.json").read_text())
    assert record["status"] == "interrupted" and record["error"]
    with open(history, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert record["epochs_completed"] == len(rows) >= 2
    assert record["test_accuracy"] is None
