"""Accuracy intervals inside [0, 1] wherever they are shown (summary.csv, compare, the accuracy plot, the page),
the accuracy plot's legend right for every panel, and our plot style whatever Optuna set."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_cli
from matplotlib import style
from matplotlib.colors import to_hex, to_rgba_array
from matplotlib.container import ErrorbarContainer
from matplotlib.image import imread
from scipy import special, stats

from rnn_sweep.record.columns import label
from rnn_sweep.report.effects import sweep_effects
from rnn_sweep.report.plots import (
    _accuracy_vs_epoch_seconds,
    _accuracy_vs_units,
    _validation_curves,
    write_sweep_plots,
)
from rnn_sweep.report.summary import summary_frame

SEEDS = [0.11, 0.62, 0.68]  # a poor setting that learned on two seeds of three: the plain t-interval is [-0.28, 1.21]


def _logit_interval(values: list[float]) -> tuple[float, float]:
    logits = special.logit(values)
    half = stats.t.ppf(0.975, len(values) - 1) * np.std(logits, ddof=1) / math.sqrt(len(values))
    return float(special.expit(logits.mean() - half)), float(special.expit(logits.mean() + half))


def _results(shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame([{
        "run_dir": str(seed), "status": "ok", "error": "", "cell": "gru", "units": 8, "batch_size": 128,
        "optimizer": "adam", "learning_rate": 0.001, "epochs": 2, "data": "mnist", "seed": seed,
        "test_accuracy": accuracy + shift, "test_loss": 1.0, "epoch_seconds": 2.0,
        "epoch_seconds_all": json.dumps([3.0, 2.0]), "train_samples_per_second": 1000.0,
        "overrides": json.dumps(["model=gru"]),
    } for seed, accuracy in enumerate(SEEDS)])


def test_summary_and_plot_intervals_are_the_logit_interval(tmp_path):
    row = summary_frame(_results()).iloc[0]
    expected = _logit_interval(SEEDS)
    assert (row["test_accuracy_ci_low"], row["test_accuracy_ci_high"]) == pytest.approx(expected, rel=1e-9)
    assert 0 < row["test_accuracy_ci_low"] < row["test_accuracy_ci_high"] < 1
    figure = _accuracy_vs_units(_results(), tmp_path)
    (bars,) = [c for axes in figure.axes for c in axes.containers if isinstance(c, ErrorbarContainer)]
    (segment,) = bars.lines[2][0].get_segments()
    assert segment[:, 1] == pytest.approx(expected, rel=1e-9)


def test_the_frontier_plot_draws_the_same_interval_as_the_accuracy_plot(tmp_path):
    """Its half-width drawn on both sides of the mean would reach below 0 here ([-0.01, 0.95])."""
    runs = pd.concat([_results(), _results(0.2).assign(cell="lstm", epoch_seconds=3.0)], ignore_index=True)
    figure = _accuracy_vs_epoch_seconds(runs, summary_frame(runs), tmp_path)
    drawn = {}
    for bars in (c for c in figure.axes[0].containers if isinstance(c, ErrorbarContainer)):
        (segment,) = bars.lines[2][-1].get_segments()  # matplotlib draws the x error bars, then the y ones
        drawn[round(float(bars.lines[0].get_ydata()[0]), 4)] = segment[:, 1]
    for shift in (0.0, 0.2):
        expected = _logit_interval([value + shift for value in SEEDS])
        assert drawn[round(float(np.mean(SEEDS)) + shift, 4)] == pytest.approx(expected, rel=1e-9)


def test_compare_shows_each_sides_interval_inside_0_1(tmp_path):
    for name, shift in (("a", 0.0), ("b", 0.01)):
        (tmp_path / name).mkdir()
        _results(shift).to_csv(tmp_path / name / "results.csv", index=False)
    result = run_cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shown = re.findall(r"(\d\.\d{4}) \[(-?\d\.\d{4}), (-?\d\.\d{4})\]", result.stdout)
    assert len(shown) == 2
    for (mean, low, high), side in zip(shown, (SEEDS, [value + 0.01 for value in SEEDS]), strict=True):
        assert float(mean) == pytest.approx(np.mean(side), abs=1e-4)
        assert (float(low), float(high)) == pytest.approx(_logit_interval(side), abs=1e-4)
        assert 0 < float(low) < float(high) < 1


def test_effects_levels_give_the_accuracy_the_same_interval_inside_0_1():
    """A level's plain t-interval here is [-0.26, 0.51]: effects.csv and the page must not show it."""
    low_seeds = [0.02, 0.30, 0.05]
    runs = pd.concat([_results().assign(cell="gru", test_accuracy=low_seeds), _results(0.2).assign(cell="lstm")],
                     ignore_index=True)
    table = sweep_effects(runs).table
    levels = table[(table["metric"] == "test_accuracy") & table["level"].notna()].set_index("level")
    for cell, values in (("gru", low_seeds), ("lstm", [value + 0.2 for value in SEEDS])):
        assert tuple(levels.loc[cell, ["ci_low", "ci_high"]]) == pytest.approx(_logit_interval(values), rel=1e-9)
    assert levels[["ci_low", "ci_high"]].stack().between(0, 1).all()


def test_a_setting_with_no_effect_at_all_gets_a_share_interval_inside_0_1():
    """Two learning rates that gave identical accuracies: the bootstrap's rounding error put -1e-16 on the page."""
    runs = pd.concat([_results().assign(learning_rate=rate, cell=cell) for rate in (0.00101, 0.00102)
                      for cell in ("gru", "lstm")], ignore_index=True)
    table = sweep_effects(runs).table
    factors = table[(table["metric"] == "test_accuracy") & table["level"].isna()]
    assert factors[["share_ci_low", "share_ci_high"]].stack().between(0, 1).all(), factors


# The rest of a record rnn-sweep writes, so `report` reads these as finished jobs.
COMPLETE = {"params": 500, "best_val_accuracy": 0.5, "train_seconds": 7.0, "first_epoch_seconds": 3.0,
            "eval_samples_per_second": 9000.0, "device": "cpu", "started_at": "2026-01-01T10:00:00",
            "config_hash": "0" * 12}


def test_the_page_tells_learning_rates_apart_in_the_5th_decimal(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    runs = pd.concat([_results().assign(learning_rate=rate) for rate in (0.00101, 0.00102)], ignore_index=True)
    for job, run in runs.iterrows():
        record = {**COMPLETE, **run.to_dict(), "run_dir": str(job), "epoch_seconds_all": [3.0, 2.0],
                  "overrides": [f"optimizer.learning_rate={run.learning_rate}"]}
        (sweep / str(job)).mkdir()
        (sweep / str(job) / "result.json").write_text(json.dumps(record), encoding="utf-8")
    result = run_cli("report", str(sweep), "--html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = (sweep / "report.html").read_text(encoding="utf-8")
    if not list(sweep.glob("*/learning_curve.png")):  # the page promises no picture the job folders lack
        assert "history.csv, the learning curve" not in page
    (summary,) = [table for table in page.split("</table>") if f">{label('n_not_ok')}</th>" in table]  # summary.csv
    cells = re.findall(r"<td[^>]*>\s*([^<]*?)\s*</td>", summary)
    assert "0.00101" in cells and "0.00102" in cells
    low, high = _logit_interval(SEEDS)
    assert cells.count(f"{low:.4f}") == 2 and cells.count(f"{high:.4f}") == 2


def test_the_accuracy_plot_gives_each_cell_one_colour_in_every_panel_and_the_legend(tmp_path):
    """A search's batch sizes hold different cells: a cell alone in one panel must not take another's colour."""
    runs = pd.concat([_results().assign(cell="simple_rnn", batch_size=64), _results().assign(cell="simple_rnn"),
                      _results().assign(cell="lstm")], ignore_index=True)
    figure = _accuracy_vs_units(runs, tmp_path)
    colour = {}
    for axes in figure.axes:
        for bars in (c for c in axes.containers if isinstance(c, ErrorbarContainer)):
            colour.setdefault(bars.get_label(), set()).add(_hex(bars.lines[0].get_color()))
    assert set(colour) == {"lstm", "simple_rnn"} and all(len(seen) == 1 for seen in colour.values())
    assert colour["lstm"] != colour["simple_rnn"]
    (legend,) = [axes.get_legend() for axes in figure.axes if axes.get_legend() is not None]
    shown = {text.get_text(): handle for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    assert set(shown) == {"lstm", "simple_rnn"}
    assert {label: {_hex(handle.get_color())} for label, handle in shown.items()} == colour


def _hex(colour: object) -> str:
    """One colour as #rrggbb, whether matplotlib gives a name, a tuple or a one-row array."""
    return to_hex(np.atleast_2d(to_rgba_array(colour))[0])


def test_our_plots_keep_their_style_after_optuna_switched_pyplot_to_ggplot(tmp_path):
    """Optuna's matplotlib plots call plt.style.use("ggplot"); a search's own plots are drawn after them."""
    with style.context("ggplot"):
        (written, *_) = write_sweep_plots(tmp_path, _results())
    pixels = (imread(written)[:, :, :3] * 255).round().astype(int)
    ggplot_panel = (pixels == [229, 229, 229]).all(axis=2).mean()  # ggplot's grey axes background, #E5E5E5
    white = (pixels == [255, 255, 255]).all(axis=2).mean()
    assert ggplot_panel < 0.01 and white > 0.5


def test_validation_curves_tell_seeds_apart(tmp_path):
    runs = pd.concat([_results().assign(units=units, run_dir=lambda f, u=units: f"{u}-" + f["run_dir"])
                      for units in (4, 8)], ignore_index=True)
    for run_dir in runs["run_dir"]:
        (tmp_path / run_dir).mkdir()
        pd.DataFrame({"epoch": [1, 2], "val_accuracy": [0.3, 0.5]}).to_csv(tmp_path / run_dir / "history.csv",
                                                                             index=False)
    figure = _validation_curves(runs, tmp_path)
    labels = [line.get_label() for axes in figure.axes for line in axes.lines]
    assert len(labels) == 6 and len(set(labels)) == 6
    assert "4 / 0" in labels and "8 / 2" in labels  # under the legend's heading
    assert {axes.get_legend().get_title().get_text() for axes in figure.axes} == {"units / seed"}
