"""The sweep and run plots are real PNG files, drawn from real run folders."""

from __future__ import annotations

import pandas as pd
import pytest

from rnn_sweep.record.result_files import collect_results
from rnn_sweep.report.plots import write_run_plot, write_sweep_plots

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 10_000


def test_sweep_plots_are_written_as_pngs(two_sweeps):
    sweep = two_sweeps[0]
    written = write_sweep_plots(sweep, pd.DataFrame(collect_results(sweep)))
    assert sorted(path.name for path in written) == [
        "accuracy_vs_units.png", "epoch_seconds_vs_batch_size.png", "val_accuracy_per_epoch.png"]
    assert all(path.parent == sweep and _is_png(path) for path in written)
    assert not list(sweep.glob(".tmp-*"))


def test_run_plot_is_the_learning_curve(two_sweeps):
    path = write_run_plot(two_sweeps[0] / "0")
    assert path == two_sweeps[0] / "0" / "learning_curve.png" and _is_png(path)


def test_nothing_to_draw_writes_nothing(two_sweeps, tmp_path):
    failed = pd.DataFrame(collect_results(two_sweeps[0])).assign(status="failed")
    assert write_sweep_plots(tmp_path, failed) == []
