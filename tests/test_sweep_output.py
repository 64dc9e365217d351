"""What a sweep prints to a CI log (a pipe): one line per finished job, not a summary box each."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from helpers.cli import run_cli
from helpers.runs import TINY


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
