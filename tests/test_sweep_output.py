"""What a sweep prints to a CI log (a pipe): one line per finished job, not a summary box each, and its tables
whole."""

from __future__ import annotations

import re
import subprocess
import sys
from itertools import product
from pathlib import Path

import pandas as pd
import pytest
from helpers.cli import cli_env, run_cli
from helpers.runs import TINY

from rnn_sweep.record.columns import COLUMNS
from rnn_sweep.record.result_files import write_result


@pytest.mark.slow
def test_a_sweep_prints_one_line_per_job_and_a_single_run_its_box(tmp_path, mnist_path):
    sweep = tmp_path / "sweep"
    result = run_cli("-m", "model=simple_rnn,gru", *TINY, "seed=3", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
                     data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rnn-sweep run" not in result.stdout  # the single run's 22-line box
    done = [line for line in result.stdout.splitlines() if line.startswith("done job")]
    results = pd.read_csv(sweep / "results.csv")
    assert len(done) == len(results) == 2
    for row in results.itertuples():
        (line,) = [line for line in done if f" {row.cell}-8 bs64 adam lr0.001 " in line]
        shown = rf"seed 3 · test accuracy {row.test_accuracy:.4f} · epoch s \(median\) \d+\.\d\ds · "
        assert re.search(shown, line), line
        assert line.endswith(str(sweep / str(row.run_dir))), line

    single = run_cli(*TINY, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, data=mnist_path)
    assert single.returncode == 0, single.stderr[-3000:]
    assert "rnn-sweep run" in single.stdout and "done job" not in single.stdout


def _sweep_of_close_rates(folder: Path) -> Path:
    """Two cells x two batch sizes x two learning rates that differ in the 5th decimal, two seeds each: the
    learning rates and batch sizes are laid out across, in headings wider than 80 columns together."""
    settings = product(("gru", "lstm"), (32, 64), (0.00101, 0.00102), (0, 1))
    for job, (cell, batch_size, rate, seed) in enumerate(settings):
        write_result(folder / str(job), {
            **dict.fromkeys(COLUMNS), "run_dir": str(folder / str(job)), "status": "ok", "cell": cell, "units": 8,
            "batch_size": batch_size, "optimizer": "adam", "learning_rate": rate, "epochs": 2, "data": "mnist",
            "seed": seed, "test_accuracy": 0.5 + job / 100, "epoch_seconds": 1.0 + seed / 10,
            "epoch_seconds_all": [3.0, 1.0 + seed / 10], "train_samples_per_second": 900.0, "epochs_completed": 2,
            "device": "CPU (test)"})
    return folder


@pytest.mark.slow
def test_a_sweeps_tables_reach_a_log_whole_with_every_setting_told_apart(tmp_path):
    sweep = _sweep_of_close_rates(tmp_path / "sweep")
    env = cli_env(None)
    env.pop("COLUMNS")  # a CI runner sets no terminal width
    result = subprocess.run([sys.executable, "-m", "rnn_sweep", "report", str(sweep)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout, result.stdout
    headings = [f"batch_size={size} learning_rate={rate}" for size in (32, 64) for rate in (0.00101, 0.00102)]
    for title in ("test accuracy (", "epoch s (median) | train samples/s ("):
        table = result.stdout[result.stdout.index(title):]
        assert all(heading in table.split("└")[0] for heading in headings), table
