"""`rnn-sweep compare` as a CI log reads it: stdout a pipe, the table whole, rows in natural order, Holm's p kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers.cli import cli_env
from scipy.stats import ttest_ind
from statsmodels.stats.multitest import multipletests

from rnn_sweep.record.columns import label, show

UNITS = (8, 16, 128)  # text order would be 128, 16, 8


def _sweep(folder: Path, shift: float) -> Path:
    """A results.csv of gru and lstm at three sizes, three seeds each (so Welch's test and Holm's p apply)."""
    rows = []
    for cell in ("lstm", "gru"):
        for units in reversed(UNITS):
            for seed in range(3):
                accuracy = 0.5 + units / 1000 + seed / 100 + (shift if cell == "gru" else 0.0)
                rows.append({
                    "run_dir": f"{cell}-{units}-{seed}", "status": "ok", "error": "", "cell": cell, "units": units,
                    "batch_size": 128, "optimizer": "adam", "learning_rate": 0.001, "epochs": 2, "data": "mnist",
                    "seed": seed, "test_accuracy": accuracy, "test_loss": 1 - accuracy, "epoch_seconds": 2.0 + seed,
                    "epoch_seconds_all": json.dumps([3.0, 2.0 + seed, 2.0 + seed]),
                    "train_samples_per_second": 1000.0, "overrides": json.dumps([f"model={cell}"]),
                })
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return folder


@pytest.mark.slow
def test_piped_compare_prints_the_whole_table_in_natural_order_and_keeps_holm_p(tmp_path):
    deep = "a-sweep-folder-with-a-name-long-enough-to-overflow-eighty-columns-on-its-own"
    a = _sweep(tmp_path / deep / "baseline-2026-01-01_10-00-00", 0.0)
    b = _sweep(tmp_path / deep / "candidate-2026-01-02_10-00-00", 0.05)
    out, page = tmp_path / "comparison.csv", tmp_path / "comparison.html"
    env = cli_env(None)
    env.pop("COLUMNS")  # a CI runner sets no terminal width
    result = subprocess.run([sys.executable, "-m", "rnn_sweep", "compare", str(a), str(b), "--csv", str(out),
                             "--html", str(page)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    assert str(a) in result.stdout and str(b) in result.stdout  # the caption's paths whole, each on its line
    rows = [line.split() for line in result.stdout.splitlines() if line.split()[:1] in (["gru"], ["lstm"])]
    assert [(row[0], int(row[1])) for row in rows] == [(cell, units) for cell in ("gru", "lstm") for units in UNITS]
    assert all("inconclusive" in row or "better" in row for row in rows)  # every row reaches its last column

    table = pd.read_csv(out)
    assert list(zip(table["cell"], table["units"], strict=True)) == [
        (cell, units) for cell in ("gru", "lstm") for units in UNITS]
    expected_p = [ttest_ind(_accuracies(a, cell, units), _accuracies(b, cell, units), equal_var=False).pvalue
                  for cell, units in zip(table["cell"], table["units"], strict=True)]
    assert table["p_value"].tolist() == pytest.approx(expected_p, rel=1e-9)
    holm = multipletests(expected_p, method="holm")[1].tolist()
    assert table["p_holm"].tolist() == pytest.approx(holm, rel=1e-9)
    shown = page.read_text(encoding="utf-8")
    assert f">{label('p_holm')}</th>" in shown and all(f">{show('p_holm', p)}</td>" in shown for p in holm)


def _accuracies(sweep: Path, cell: str, units: int) -> pd.Series:
    results = pd.read_csv(sweep / "results.csv")
    return results[(results["cell"] == cell) & (results["units"] == units)]["test_accuracy"]
