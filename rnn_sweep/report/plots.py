"""PNG plots of a sweep and of a single run, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Sweep plots read the results table and each run's history.csv; nothing here imports TensorFlow. Axes, titles and
legends name a result or history column by its label in the column table (record/columns.py) and write its values
in that table's format, as every table does: a legend of settings is headed by their labels, like a table's columns,
and each entry gives its values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib import style
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnn_sweep.record.columns import ACCURACY, HISTORY_FILE, RACE_CSV, RACE_FILE_COLUMNS, column, label, show
from rnn_sweep.record.fold import counted, steady_epoch_seconds
from rnn_sweep.record.result_files import read_result
from rnn_sweep.report.frontier import ACCURACY_MEAN, EPOCH_TIME, frontier, runs_of
from rnn_sweep.report.summary import setting_keys
from rnn_sweep.stats.intervals import accuracy_interval

ACCURACY_PLOT = "accuracy_vs_units.png"
TIMING_PLOT = "epoch_seconds_vs_batch_size.png"
CURVES_PLOT = "val_accuracy_per_epoch.png"
FRONTIER_PLOT = "accuracy_vs_epoch_seconds.png"
RUN_PLOT = "learning_curve.png"
RACE_PLOT = "race_intervals.png"
# Settings beyond the plotted axes that, when they vary, get their own line rather than being averaged over.
LINE_SETTINGS = ("optimizer", "learning_rate", "epochs")
# What a run's plot title names of its setting.
RUN_SETTINGS = ("cell", "units", "batch_size", "optimizer", "learning_rate")
# Matplotlib's own look, whatever a library set globally before (Optuna's plots switch pyplot to ggplot).
OUR_STYLE = "default"


def write_sweep_plots(sweep_dir: Path, results: pd.DataFrame, summary: pd.DataFrame | None = None) -> list[Path]:
    """Accuracy vs cell size, epoch seconds vs batch size, validation curves and, given the summary, accuracy vs
    epoch time with its frontier; returns the files written.

    Only runs with status ok are drawn; a plot with nothing to show is not written.
    """
    sweep_dir = Path(sweep_dir)
    ok = counted(results)
    written = []
    with style.context(OUR_STYLE):
        if summary is not None and not ok.empty:
            figure = _accuracy_vs_epoch_seconds(ok, summary, sweep_dir)
            if figure is not None:
                written.append(_save(figure, sweep_dir / FRONTIER_PLOT))
        for name, draw in ((ACCURACY_PLOT, _accuracy_vs_units), (TIMING_PLOT, _seconds_vs_batch_size),
                           (CURVES_PLOT, _validation_curves), (RACE_PLOT, _race_intervals)):
            figure = draw(ok, sweep_dir) if not ok.empty else None
            if figure is not None:
                written.append(_save(figure, sweep_dir / name))
    return written


def write_run_plot(run_dir: Path) -> Path:
    """The run's loss and accuracy per epoch, training and validation, in two panels."""
    with style.context(OUR_STYLE):
        return _save(_run_figure(Path(run_dir)), Path(run_dir) / RUN_PLOT)


def _run_figure(run_dir: Path) -> Figure:
    history = pd.read_csv(run_dir / HISTORY_FILE)
    record = read_result(run_dir) or {}
    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, metric in zip(figure.subplots(1, 2), ("loss", "accuracy"), strict=True):
        drawn = [name for name in (metric, f"val_{metric}")
                 if name in history.columns and history[name].notna().any()]
        for name in drawn:
            axes.plot(history["epoch"], history[name], marker="o", label=label(name))
        axes.set(xlabel=label("epoch"), ylabel=" / ".join(map(label, drawn)))
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        axes.legend()
    title = _settings_text(record, RUN_SETTINGS) if record else run_dir.name
    if record.get(ACCURACY) is not None:
        title += f"   {label(ACCURACY)} {show(ACCURACY, record[ACCURACY])}"
    figure.suptitle(title)
    return figure


def _accuracy_vs_units(ok: pd.DataFrame, sweep_dir: Path) -> Figure:
    """One panel per batch size, one line per cell (and per optimizer etc. where those vary); seeds averaged,
    with the 95% interval of the mean (summary.csv's, inside [0, 1]) as error bars where a point has 2+ seeds."""
    batch_sizes = sorted(ok["batch_size"].unique())
    split = ["cell", *(s for s in LINE_SETTINGS if s in ok.columns and ok[s].nunique() > 1)]
    figure = Figure(figsize=(4.5 * len(batch_sizes) + 1.5, 4.2), layout="constrained")
    panels = figure.subplots(1, len(batch_sizes), sharey=True, squeeze=False)[0]
    # One colour per line in every panel, so the one legend is right for all of them (a panel that lacks a
    # line would otherwise give the next line that line's colour).
    colours = {line: f"C{index % 10}" for index, (line, _) in enumerate(ok.groupby(split, sort=True))}
    for axes, batch_size in zip(panels, batch_sizes, strict=True):
        rows = ok[ok["batch_size"] == batch_size]
        for line, group in rows.groupby(split, sort=True):
            points = {units: accuracy_interval(runs[ACCURACY].dropna().tolist())
                      for units, runs in group.groupby("units", sort=True)}
            below = [0 if pd.isna(p.low) else p.mean - p.low for p in points.values()]
            above = [0 if pd.isna(p.high) else p.high - p.mean for p in points.values()]
            axes.errorbar(list(points), [p.mean for p in points.values()], capsize=3, marker="o",
                          yerr=[below, above], label=_line_label(split, line), color=colours[line])
        _log2_axis(axes, ok["units"])
        axes.set(title=f"{label('batch_size')} {show('batch_size', batch_size)}", xlabel=label("units"))
        axes.grid(alpha=0.3)
    panels[0].set_ylabel(f"{label(ACCURACY)} mean [95% CI]")
    shown = {name: handle for axes in panels for handle, name in zip(*axes.get_legend_handles_labels(), strict=True)}
    panels[-1].legend(shown.values(), shown.keys(), title=_legend_title(split), loc="center left",
                      bbox_to_anchor=(1.02, 0.5))
    figure.suptitle(f"{_capital(label(ACCURACY))} vs cell size ({sweep_dir.name})")
    return figure


def _accuracy_vs_epoch_seconds(ok: pd.DataFrame, summary: pd.DataFrame, sweep_dir: Path) -> Figure | None:
    """One point per setting: its mean accuracy with the 95% t-interval over seeds, its median steady epoch with
    the interquartile range of those epochs; the frontier (no other setting both more accurate and faster) ringed
    and joined."""
    summary = summary[summary[ACCURACY_MEAN].notna() & summary[EPOCH_TIME].notna()]
    if len(summary) < 2:
        return None
    keys = setting_keys(ok)
    shown = [key for key in keys if summary[key].nunique(dropna=True) > 1] or keys[:1]
    on_frontier = frontier(summary)
    figure = Figure(figsize=(9, 5.5), layout="constrained")
    axes = figure.subplots()
    for index, row in summary.iterrows():
        low, high = pd.Series(steady_epoch_seconds(runs_of(ok, row, keys))).quantile([0.25, 0.75]).tolist()
        seconds, accuracy = float(row[EPOCH_TIME]), float(row[ACCURACY_MEAN])
        # summary.csv's own interval: bounded to [0, 1], so not symmetric about the mean
        below, above = accuracy - row["test_accuracy_ci_low"], row["test_accuracy_ci_high"] - accuracy
        axes.errorbar([seconds], [accuracy], xerr=[[seconds - low], [high - seconds]],
                      yerr=[[0 if pd.isna(below) else below], [0 if pd.isna(above) else above]], marker="o", capsize=3,
                      color="#a40000" if on_frontier[index] else "#777777")
        axes.annotate(_settings_text(row, tuple(shown)), (seconds, accuracy), textcoords="offset points", xytext=(6, 4),
                      fontsize="x-small")
    best = summary[on_frontier].sort_values(EPOCH_TIME)
    axes.plot(best[EPOCH_TIME], best[ACCURACY_MEAN], color="#a40000", linestyle="--", marker="o", markersize=12,
              markerfacecolor="none", label="frontier: no other setting both more accurate and faster")
    axes.set(xlabel=f"{label(EPOCH_TIME)} [IQR]", ylabel=f"{label(ACCURACY_MEAN)} mean [95% CI]")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.suptitle(f"{_capital(label(ACCURACY))} vs epoch time ({sweep_dir.name})")
    return figure


def _seconds_vs_batch_size(ok: pd.DataFrame, sweep_dir: Path) -> Figure | None:
    """One panel per cell type, one line per cell size: where the time goes as batches grow.

    Each point is the median steady epoch of its runs (seeds pooled), the bar their interquartile range.
    """
    ok = ok[ok["epoch_seconds"].notna()]
    if ok.empty:
        return None
    cells = sorted(ok["cell"].unique())
    figure = Figure(figsize=(4.5 * len(cells) + 1.5, 4.2), layout="constrained")
    panels = figure.subplots(1, len(cells), sharey=True, squeeze=False)[0]
    for axes, cell in zip(panels, cells, strict=True):
        rows = ok[ok["cell"] == cell]
        for units, group in rows.groupby("units", sort=True):
            quartiles = {batch: pd.Series(steady_epoch_seconds(runs)).quantile([0.25, 0.5, 0.75]).tolist()
                         for batch, runs in group.groupby("batch_size", sort=True)}
            low, median, high = (list(values) for values in zip(*quartiles.values(), strict=True))
            axes.errorbar(list(quartiles), median, capsize=3, marker="o", label=show("units", units),
                          yerr=[[m - q for m, q in zip(median, low, strict=True)],
                                [q - m for m, q in zip(median, high, strict=True)]])
        _log2_axis(axes, ok["batch_size"])
        axes.set(title=cell, xlabel=label("batch_size"))
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small", title=label("units"), title_fontsize="small")
    panels[0].set_ylabel(f"{label(EPOCH_TIME)} [IQR]")
    figure.suptitle(f"Epoch time vs {label('batch_size')} ({sweep_dir.name})")
    return figure


def _validation_curves(ok: pd.DataFrame, sweep_dir: Path) -> Figure | None:
    """Every run's validation accuracy per epoch: one panel per cell type, so each run keeps its own colour; the
    legend gives the settings that vary (the seed where none does)."""
    cells = sorted(ok["cell"].unique())
    varying = [s for s in ("units", "batch_size", *LINE_SETTINGS, "seed")
               if s in ok.columns and ok[s].nunique() > 1] or ["seed"]
    figure = Figure(figsize=(4.5 * len(cells) + 1, 5.5), layout="constrained")
    panels = figure.subplots(1, len(cells), sharey=True, squeeze=False)[0]
    drawn = 0
    for axes, cell in zip(panels, cells, strict=True):
        for _, row in ok[ok["cell"] == cell].sort_values(["units", "batch_size"]).iterrows():
            history = _history(sweep_dir, row)
            if history is None or "val_accuracy" not in history.columns:
                continue
            axes.plot(history["epoch"], history["val_accuracy"], marker="o", markersize=3,
                      label=_line_label(varying, tuple(row[s] for s in varying)))
            drawn += 1
        axes.set(title=cell, xlabel=label("epoch"))
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2,
                        title=_legend_title(varying), title_fontsize="small")
    if not drawn:
        return None
    panels[0].set_ylabel(label("val_accuracy"))
    figure.suptitle(f"{_capital(label('val_accuracy'))} per {label('epoch')}, every run ({sweep_dir.name})")
    return figure


def _race_intervals(ok: pd.DataFrame, sweep_dir: Path) -> Figure | None:
    """A race's settings round by round (race.csv): mean test accuracy and repeated interval, until each was decided;
    the legend gives each setting's final state. None for a sweep that was no race."""
    path = sweep_dir / RACE_CSV
    if not path.is_file():
        return None
    race = pd.read_csv(path)
    settings = [column for column in race.columns if column not in RACE_FILE_COLUMNS]
    race["setting"] = [_line_label(settings, tuple(row[settings])) or "all" for _, row in race.iterrows()]
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    names = list(dict.fromkeys(race["setting"]))
    for index, name in enumerate(names):
        rows = race[race["setting"] == name].drop_duplicates("n")  # after its decision a setting's row repeats
        offset = (index - (len(names) - 1) / 2) * 0.08
        axes.errorbar(rows["round"] + offset, rows["mean"], yerr=[rows["mean"] - rows["ci_low"],
                      rows["ci_high"] - rows["mean"]], marker="o", capsize=3,
                      label=f"{name} ({race[race['setting'] == name]['state'].iloc[-1]})")
    axes.set(xlabel="round", ylabel=f"{label(ACCURACY)} mean [repeated CI]", title="race: each setting until decided")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", title=_legend_title(settings) or None, title_fontsize="small")
    return figure


def _history(sweep_dir: Path, row: pd.Series) -> pd.DataFrame | None:
    """The run's history.csv, found by its recorded folder or, for a moved sweep with an older absolute path, by the
    job folder's name."""
    recorded = sweep_dir / str(row.get("run_dir"))  # relative to the sweep folder; absolute in older tables
    for folder in (recorded, sweep_dir / recorded.name):
        if (folder / HISTORY_FILE).is_file():
            return pd.read_csv(folder / HISTORY_FILE)
    return None


def _capital(text: str) -> str:
    """A label (lower case in tables) opening a title."""
    return text[:1].upper() + text[1:]


def _settings_text(record: Mapping[str, object], settings: tuple[str, ...]) -> str:
    """A run's settings as a line of text: a number after its column's label (`batch size 64`), as the page lists
    what every run shares; a text value (`gru`, `adam`) names itself."""
    return ", ".join(_setting_text(name, record.get(name)) for name in settings)


def _setting_text(name: str, value: object) -> str:
    """One setting of _settings_text (a name without a column: its value alone)."""
    found, shown = column(name), show(name, value)
    return shown if found is None or found.kind == "text" else f"{found.label} {shown}"


def _legend_title(settings: list[str]) -> str:
    """The heading of a legend whose entries are `settings`' values (_line_label): their labels, in that order."""
    return " / ".join(map(label, settings))


def _line_label(settings: list[str], values: object) -> str:
    """A legend entry: the values of `settings` as the tables write them, under the legend's title of their labels,
    so an entry stays short however long a label is."""
    values = values if isinstance(values, tuple) else (values,)
    return " / ".join(show(name, value) for name, value in zip(settings, values, strict=True))


def _log2_axis(axes: Axes, values: pd.Series) -> None:
    """Cell and batch sizes are usually powers of two: log scale, ticks at exactly the values swept."""
    ticks = sorted(values.unique())
    if len(ticks) > 1 and min(ticks) > 0:
        axes.set_xscale("log", base=2)
    axes.set_xticks(ticks, [str(tick) for tick in ticks])
    axes.minorticks_off()


def _save(figure: Figure, path: Path) -> Path:
    """Render to a temporary file beside `path`, then rename: a reader never sees half a PNG."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        figure.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
