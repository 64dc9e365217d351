"""Quiet output: TensorFlow's C++ start-up lines and retracing notices are hidden unless RNN_SWEEP_TF_LOGS=1; real
errors still show."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from helpers.cli import cli_env, run_cli
from helpers.runs import TINY

START_UP_LINES = ("absl::InitializeLog", "oneDNN custom operations", "cudart_stub", "cuInit", "cpu_feature_guard")

# What TensorFlow's libraries write to file descriptor 2 while they load, then a real error, then Python's own output.
WRITER = r"""
import os, sys
from rnn_sweep.train.startup_logs import start_up_lines_hidden
with start_up_lines_hidden():
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(2, b"I0000 00:00:1.5   7 port.cc:153] oneDNN custom operations are on.\n")
    os.write(2, b"W0000 00:00:1.6   7 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
    os.write(2, b"E0000 00:00:1.7   7 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
    os.write(2, b"E0000 00:00:1.8   7 allocator.cc:9] Allocation of 80000000000 bytes exceeds 10% of memory\n")
    print("a Python warning", file=sys.stderr)
"""


def test_only_start_up_notices_are_hidden(tmp_path):
    result = subprocess.run([sys.executable, "-c", WRITER], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "E0000 00:00:1.8   7 allocator.cc:9] Allocation of 80000000000 bytes exceeds 10% of memory",
        "a Python warning",
    ]


@pytest.mark.slow
def test_a_default_run_starts_quietly_and_the_switch_shows_the_lines(tmp_path, mnist_path):
    quiet = run_cli(*TINY, "hydra.run.dir=quiet", cwd=tmp_path, data=mnist_path, fresh=True)  # imports TensorFlow
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert not [line for line in START_UP_LINES if line in quiet.stderr], quiet.stderr[-3000:]

    env = {**cli_env(mnist_path), "RNN_SWEEP_TF_LOGS": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    shown = subprocess.run([sys.executable, "-m", "rnn_sweep", *TINY, "hydra.run.dir=shown"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600, check=False)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert any(line in shown.stderr for line in START_UP_LINES), shown.stderr[-3000:]


@pytest.mark.slow
def test_a_sweep_of_different_models_prints_no_retracing_notice(grid_sweep, seed_sweeps):
    """Six graphs trip TensorFlow's retracing warning (it counts every model's step functions as one function); the
    seeds of one graph share its trace, which the jobs' `traces` show."""
    sweep, result = grid_sweep
    assert result.returncode == 0, result.stderr[-3000:]
    job_logs = [log.read_text() for log in sweep.glob("*/*.log")]
    assert len(job_logs) == 6
    assert not [text for text in [result.stdout, result.stderr, *job_logs] if "retracing" in text], result.stdout
    assert pd.read_csv(sweep / "results.csv")["traces"].tolist() == [3] * 6  # train, evaluate and predict
    seeds = pd.read_csv(seed_sweeps[0] / "results.csv").sort_values("seed")
    assert seeds["traces"].tolist() == [3, 0, 0]  # traced by the first seed only
