"""Every renderer takes its headings and number formats from the one column table (rnn_sweep/record/columns.py),
and the sweep page says once what every run shares. Sweep folders are written by hand here: no training.

A column relabelled in the table is relabelled on the terminal, on the page, in compare and its gate, in the plots
(their titles, axes and legends) and in TensorBoard's HParams view; a column taken out of a view leaves every renderer
of that view.
"""

from __future__ import annotations

import io
import json
import re
import struct
from dataclasses import replace
from html import unescape
from itertools import product
from pathlib import Path

import optuna
import pytest
from browser import open_page
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text
from rich.console import Console
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import metadata

from rnn_sweep.commands import compare
from rnn_sweep.record.columns import (
    COLUMNS,
    DECLARED,
    HISTORY_FILE,
    RACE_CSV,
    REPORT_HTML,
    TENSORBOARD_DIR,
    TRIAL_JOB,
    TRIAL_OVERRIDES,
    label,
    show,
)
from rnn_sweep.record.fold import counted
from rnn_sweep.record.result_files import write_result
from rnn_sweep.report.html import write_sweep_page
from rnn_sweep.report.plots import (
    _accuracy_vs_epoch_seconds,
    _accuracy_vs_units,
    _race_intervals,
    _run_figure,
    _seconds_vs_batch_size,
    _validation_curves,
)
from rnn_sweep.report.run_console import print_run_summary
from rnn_sweep.report.tables import print_sweep_tables, sweep_tables, varied_columns
from rnn_sweep.report.tensorboard_hparams import HPARAMS_EVENTS, write_hparams
from rnn_sweep.search.study_files import report_study

RELABELLED = "share of test digits right"
CELLS = ("gru", "lstm")
SEEDS = (0, 1, 2)


def _record(job: Path, **values: object) -> dict:
    record = {**dict.fromkeys(COLUMNS), "run_dir": str(job), "status": "ok", "units": 8, "batch_size": 64,
              "optimizer": "adam", "learning_rate": 0.001, "epochs": 2, "data": "mnist", "params": 1234,
              "test_loss": 1.2, "epochs_completed": 2, "train_samples_per_second": 900.0, "device": "CPU (test)"}
    return {**record, **values}


def _sweep(folder: Path, shift: float = 0.0) -> Path:
    """gru and lstm on three seeds each, every job logged to TensorBoard (an empty log folder of its own)."""
    for number, (cell, seed) in enumerate(product(CELLS, SEEDS)):
        job = folder / str(number)
        accuracy = 0.5 + 0.1 * CELLS.index(cell) + 0.01 * seed + shift
        write_result(job, _record(job, cell=cell, seed=seed, test_accuracy=accuracy, best_val_accuracy=accuracy - 0.1,
                                  epoch_seconds=1.0 + seed / 10, epoch_seconds_all=[3.0, 1.0 + seed / 10, 1.1],
                                  overrides=[f"model={cell}", f"seed={seed}"]))
        (job / TENSORBOARD_DIR).mkdir()
    return folder


def _events(path: Path) -> list[event_pb2.Event]:
    """The events of a TFRecord file: length (8 bytes), its CRC (4), the event, the event's CRC (4)."""
    data, offset, events = path.read_bytes(), 0, []
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        events.append(event_pb2.Event.FromString(data[offset + 12: offset + 12 + length]))
        offset += 12 + length + 4
    return events


def _hparams_metrics(sweep: Path) -> dict[str, str]:
    """{tag: display name} of the metrics TensorBoard's HParams view declares for the sweep."""
    (experiment,) = [value for event in _events(sweep / TENSORBOARD_DIR / HPARAMS_EVENTS)
                     for value in event.summary.value if value.tag == metadata.EXPERIMENT_TAG]
    data = metadata.parse_experiment_plugin_data(experiment.metadata.plugin_data.content)
    return {info.name.tag: info.display_name for info in data.metric_infos}


def _headings(page: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", heading)).strip() for heading in re.findall(r"<th[^>]*>(.*?)</th>", page)]


def _section(page: str, anchor: str) -> dict[str, str]:
    """The (term, value) pairs of the list under the heading with id `anchor`."""
    (found,) = re.findall(rf'<h2 id="{anchor}">.*?</dl>', page, re.DOTALL)
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", found, re.DOTALL)
    return {unescape(term): unescape(re.sub(r"<[^>]+>", "", value)) for term, value in pairs}


@pytest.fixture
def relabelled(monkeypatch: pytest.MonkeyPatch) -> None:
    """test_accuracy with a label and a format of its own; best_val_accuracy shown nowhere beyond the CSV files."""
    accuracy, best_val = DECLARED["test_accuracy"], DECLARED["best_val_accuracy"]
    monkeypatch.setitem(DECLARED, "test_accuracy", replace(accuracy, label=RELABELLED, fmt="{:.1%}"))
    monkeypatch.setitem(DECLARED, "best_val_accuracy", replace(best_val, views=()))


def test_one_entry_of_the_column_table_relabels_every_renderer(tmp_path, relabelled, capsys):
    sweep = _sweep(tmp_path / "a")
    tables = sweep_tables(sweep)
    gru = tables.summary[tables.summary["cell"] == "gru"].iloc[0]
    folded = f"{gru.test_accuracy_mean:.1%} [{gru.test_accuracy_ci_low:.1%}, {gru.test_accuracy_ci_high:.1%}] (3)"

    terminal = Console(file=io.StringIO(), width=300)
    print_sweep_tables(tables, terminal)
    shown = " ".join(terminal.file.getvalue().split())  # the title wraps at the width of its table
    assert f"{RELABELLED} (mean [95% CI] (n runs)" in shown and folded in shown

    page = write_sweep_page(tables, varied_columns(tables.results)).read_text(encoding="utf-8")
    headings = _headings(page)
    assert {RELABELLED, f"{RELABELLED} sd", f"{RELABELLED} 95% CI low", f"{RELABELLED} 95% CI high"} <= set(headings)
    assert f">{gru.test_accuracy_mean:.1%}</td>" in page and ">50.0%</td>" in page  # summary; gru seed 0's run
    assert "best val accuracy" not in headings and "test accuracy" not in headings

    write_hparams(sweep, tables.results)
    assert _hparams_metrics(sweep) == {"test_accuracy": RELABELLED, "epoch_seconds": label("epoch_seconds")}

    box = Console(file=io.StringIO(), width=200)
    print_run_summary(json.loads((sweep / "0" / "result.json").read_text()), box)
    assert f"{RELABELLED} │ 50.0%" in box.file.getvalue() and "best val" not in box.file.getvalue()

    other = _sweep(tmp_path / "b", shift=0.05)
    compared = tmp_path / "compare.html"
    assert compare.main([str(sweep), str(other), "--html", str(compared)]) == 0
    out = capsys.readouterr().out
    assert f"{RELABELLED} A" in out and f"{RELABELLED} B" in out and folded.removesuffix(" (3)") in out
    assert {f"{RELABELLED} A", f"{RELABELLED} B"} <= set(_headings(compared.read_text(encoding="utf-8")))


def _texts(figure: Figure) -> list[str]:
    """Every text the figure draws: its title, the panels' titles, axis titles, ticks, legends and annotations."""
    return [text.get_text() for text in figure.findobj(Text) if text.get_text()]


def test_the_plots_and_the_gate_take_their_headings_from_the_column_table(tmp_path, relabelled, monkeypatch, capsys):
    for name, new_label in (("epoch_seconds", "seconds an epoch takes"), ("batch_size", "images a step"),
                            ("cell", "kind of cell")):
        monkeypatch.setitem(DECLARED, name, replace(DECLARED[name], label=new_label))
    monkeypatch.setitem(DECLARED, "delta_accuracy", replace(DECLARED["delta_accuracy"], fmt="{:+.1%}"))
    sweep = _sweep(tmp_path / "a")
    tables = sweep_tables(sweep)
    ok = counted(tables.results)
    (sweep / "0" / HISTORY_FILE).write_text("epoch,loss,accuracy,val_loss,val_accuracy\n1,2.0,0.3,2.1,0.28\n"
                                            "2,1.5,0.5,1.6,0.45\n")
    (sweep / RACE_CSV).write_text("cell,round,n,mean,ci_low,ci_high,state\ngru,1,3,0.51,0.48,0.54,dropped\n"
                                  "lstm,1,3,0.61,0.58,0.64,kept\n")

    figures = {"accuracy vs units": _accuracy_vs_units(ok, sweep),
               "accuracy vs epoch time": _accuracy_vs_epoch_seconds(ok, tables.summary, sweep),
               "epoch time vs batch size": _seconds_vs_batch_size(ok, sweep),
               "race": _race_intervals(ok, sweep), "run": _run_figure(sweep / "0")}
    texts = {name: _texts(figure) for name, figure in figures.items()}
    units, frontier, timing = (figures[name].axes[0] for name in ("accuracy vs units", "accuracy vs epoch time",
                                                                    "epoch time vs batch size"))
    assert units.get_ylabel() == f"{RELABELLED} mean [95% CI]" and units.get_title() == "images a step 64"
    assert figures["accuracy vs units"].get_suptitle() == f"Share of test digits right vs cell size ({sweep.name})"
    assert units.get_legend().get_title().get_text() == "kind of cell"
    assert frontier.get_ylabel() == f"{RELABELLED} mean [95% CI]"
    assert frontier.get_xlabel() == "seconds an epoch takes [IQR]"
    assert timing.get_xlabel() == "images a step" and timing.get_ylabel() == "seconds an epoch takes [IQR]"
    assert figures["race"].axes[0].get_ylabel() == f"{RELABELLED} mean [repeated CI]"
    assert figures["run"].get_suptitle().endswith(f"   {RELABELLED} 50.0%")  # its label and its format
    for name, drawn in texts.items():  # no heading of the table's own left behind
        old = [text for text in drawn if any(word in text.lower() for word in ("test accuracy", "epoch s", "batch s"))]
        assert not old, (name, old)

    worse = _sweep(tmp_path / "b", shift=-0.3)
    assert compare.main([str(sweep), str(worse), "--fail-if-worse", "0"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"Δ {RELABELLED} [95% CI]" in out  # compare's table heading
    assert f"cell=gru: worse (Δ {RELABELLED} -30.0% [" in out and ", Holm-adjusted p " in out, out


def _grid_sweep(folder: Path) -> Path:
    """gru and lstm over two cell sizes, two batch sizes and two learning rates, one seed, each with a history."""
    for number, (cell, units, batch_size, rate) in enumerate(product(CELLS, (8, 16), (32, 64), (0.001, 0.01))):
        job = folder / str(number)
        write_result(job, _record(job, cell=cell, units=units, batch_size=batch_size, learning_rate=rate, seed=0,
                                  test_accuracy=0.5 + units / 100, epoch_seconds=batch_size / 100,
                                  epoch_seconds_all=[1.0, batch_size / 100, batch_size / 100]))
        (job / HISTORY_FILE).write_text("epoch,loss,accuracy,val_loss,val_accuracy,epoch_seconds\n"
                                        "1,2.0,0.3,2.1,0.28,1.0\n2,1.5,0.5,1.6,0.45,0.9\n")
    return folder


def _legend(axes: Axes) -> tuple[str, list[str]]:
    legend = axes.get_legend()
    return legend.get_title().get_text(), [text.get_text() for text in legend.get_texts()]


def test_the_plots_legends_titles_and_history_axes_write_settings_and_history_as_the_column_table_does(
        tmp_path, monkeypatch):
    """Settings in a legend are headed by their labels, like a table's columns, and each entry gives the values in
    the table's format; a run's title names its settings by label and format; history axes take their labels."""
    for name, new_label, fmt in (("batch_size", "images a step", None), ("learning_rate", "step size", "{:.0e}"),
                                 ("units", "hidden width", "{:03d}"), ("epoch", "pass over the data", None),
                                 ("loss", "fit error", None), ("val_accuracy", "held-out share right", None)):
        monkeypatch.setitem(DECLARED, name, replace(DECLARED[name], label=new_label, fmt=fmt or DECLARED[name].fmt))
    sweep = _grid_sweep(tmp_path / "grid")
    (sweep / RACE_CSV).write_text("units,learning_rate,round,n,mean,ci_low,ci_high,state\n"
                                  "8,0.001,1,3,0.51,0.48,0.54,worse\n16,0.01,1,3,0.61,0.58,0.64,leader\n")
    tables = sweep_tables(sweep)
    ok = counted(tables.results)
    figures = {"accuracy vs units": _accuracy_vs_units(ok, sweep), "epoch time": _seconds_vs_batch_size(ok, sweep),
               "validation": _validation_curves(ok, sweep), "run": _run_figure(sweep / "0"),
               "race": _race_intervals(ok, sweep), "frontier": _accuracy_vs_epoch_seconds(ok, tables.summary, sweep)}

    units = figures["accuracy vs units"].axes
    assert [axes.get_title() for axes in units] == ["images a step 32", "images a step 64"]
    assert _legend(units[-1]) == ("cell / step size", ["gru / 1e-03", "gru / 1e-02", "lstm / 1e-03", "lstm / 1e-02"])
    for axes in figures["epoch time"].axes:
        assert _legend(axes) == ("hidden width", ["008", "016"]) and axes.get_xlabel() == "images a step"

    validation = figures["validation"]
    for axes in validation.axes:
        title, entries = _legend(axes)
        assert title == "hidden width / images a step / step size" and "016 / 64 / 1e-02" in entries
        assert axes.get_xlabel() == "pass over the data"
    assert validation.axes[0].get_ylabel() == "held-out share right"
    assert validation.get_suptitle() == f"Held-out share right per pass over the data, every run ({sweep.name})"

    assert _legend(figures["race"].axes[0]) == ("hidden width / step size", ["008 / 1e-03 (worse)",
                                                                             "016 / 1e-02 (leader)"])
    points = [text.get_text() for text in figures["frontier"].axes[0].texts]  # each point names its setting
    assert "gru, hidden width 016, images a step 32, step size 1e-02" in points and len(points) == 16

    run = figures["run"]
    assert run.get_suptitle().startswith("gru, hidden width 008, images a step 32, adam, step size 1e-03   ")
    loss, accuracy = run.axes
    assert loss.get_ylabel() == "fit error / validation loss" and _legend(loss)[1] == ["fit error", "validation loss"]
    assert accuracy.get_ylabel() == "training accuracy / held-out share right"
    assert _legend(accuracy)[1] == ["training accuracy", "held-out share right"]
    assert {axes.get_xlabel() for axes in run.axes} == {"pass over the data"}

    for name, figure in figures.items():  # no wording of the plots' own left behind ("Epoch time" is epoch s')
        timed = name in ("epoch time", "frontier")
        stale = ("bs", "lr", "units", "batch size", "learning rate", *(("epoch",) if not timed else ()))
        words = {text: f" {re.sub(r'[^a-z]+', ' ', text.lower())} " for text in _texts(figure)}
        old = [text for text, padded in words.items() if any(f" {word} " in padded for word in stale)]
        assert not old, (name, old)


def test_the_page_lists_what_every_run_shares_once_and_lays_out_only_what_varies(tmp_path, browser):
    sweep = _sweep(tmp_path / "sweep")
    tables = sweep_tables(sweep)
    written = write_sweep_page(tables, varied_columns(tables.results))
    page = written.read_text(encoding="utf-8")
    seen = " ".join(open_page(browser, written).facts["text"].split())  # as Chromium renders it
    assert "Same in every run" in seen and "optimizer adam learning rate 0.001" in seen, seen[:2000]

    same = _section(page, "same-in-every-run")
    assert same == {"units": "8", "batch size": "64", "optimizer": "adam", "learning rate": "0.001", "epochs": "2",
                    "data": "mnist"}
    headings = _headings(page)
    for constant in same:
        assert constant not in headings  # never a column
    assert headings.count(label("cell")) >= 2 and label("seed") in headings  # summary and runs; the seeds vary


def _search_folder(folder: Path) -> optuna.Study:
    """A finished search of three trials over model.units, its jobs' records beside Optuna's files."""
    study = optuna.create_study(direction="maximize")
    study.set_metric_names(["best_val_accuracy"])
    units_choices = optuna.distributions.CategoricalDistribution([8, 16, 32])
    for job, (units, value) in enumerate(((8, 0.61), (32, 0.7321), (16, 0.65))):
        overrides = ["model=gru", f"model.units={units}"]
        study.add_trial(optuna.trial.create_trial(
            params={"model.units": units}, distributions={"model.units": units_choices}, value=value,
            user_attrs={TRIAL_JOB: job, TRIAL_OVERRIDES: overrides}))
        write_result(folder / str(job), _record(folder / str(job), cell="gru", units=units, seed=42,
                                                test_accuracy=value, best_val_accuracy=value, overrides=overrides))
    study.enqueue_trial({"model.units": 32})  # a trial still waiting is not the best
    return study


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # Optuna's metric names
def test_a_search_page_names_its_best_trial_with_a_link_to_its_job_folder(tmp_path, browser):
    sweep = tmp_path / "search"
    study = _search_folder(sweep)
    report_study(study, sweep)
    tables = sweep_tables(sweep)
    written = write_sweep_page(tables, varied_columns(tables.results))
    page = written.read_text(encoding="utf-8")
    visit = open_page(browser, written)  # as Chromium renders it
    seen = " ".join(visit.facts["text"].split())
    assert "Best trial" in seen and "rnn-sweep model=gru model.units=32" in seen, seen[:2000]
    assert "./1/" in visit.facts["links"]
    assert "optuna_importances.png: each searched parameter's importance to the objective, by Optuna's PED-ANOVA " \
           "evaluator" in seen  # Optuna's default evaluator differs between its versions

    best = _section(page, "best-trial")
    assert best["trial"] == "1" and best[label("best_val_accuracy")] == show("best_val_accuracy", 0.7321) == "0.7321"
    assert best["model.units"] == "32" and best["job folder"] == "1/"
    assert best["train it alone"] == "rnn-sweep model=gru model.units=32"
    assert '<a href="./1/">1/</a>' in page and (sweep / "1").is_dir()

    (sweep / "optimization_results.yaml").unlink()  # a plain sweep (or a search before its end): no section
    write_sweep_page(tables, varied_columns(tables.results))
    assert 'id="best-trial"' not in (sweep / REPORT_HTML).read_text(encoding="utf-8")
