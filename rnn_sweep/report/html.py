"""The pages people look at: report.html in a sweep folder, and the page `rnn-sweep compare --html` writes.

Each is one self-contained file: styles inline, plots embedded as data URIs, links relative to the page, so it
opens from disk with no network and a copied sweep folder still works. Pandas' Styler draws the numeric tables;
the jinja2 templates beside this module (autoescaped) draw the rest.
"""

from __future__ import annotations

import base64
import math
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from omegaconf import OmegaConf

from rnn_sweep import atomic
from rnn_sweep.config.overrides import overrides_text
from rnn_sweep.record.columns import (
    HISTORY_FILE,
    MULTIRUN_FILE,
    PARETO_CSV,
    RACE_CSV,
    RACE_FILE_COLUMNS,
    REPORT_HTML,
    SUMMARY_COLUMNS,
    SUMMARY_CSV,
    read_table,
)
from rnn_sweep.record.fold import not_ok
from rnn_sweep.report.frontier import ACCURACY_MEAN, EPOCH_TIME, frontier, setting_label
from rnn_sweep.report.summary import setting_keys

if TYPE_CHECKING:
    from rnn_sweep.compare.verdicts import Comparison
    from rnn_sweep.report.tables import SweepTables

_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True,
                         undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
Format = Callable[[Any], str]


def _fixed(digits: int, suffix: str = "") -> Format:
    return lambda value: f"{value:.{digits}f}{suffix}"


def _thousands(value: Any) -> str:
    return f"{value:,.0f}"


def _text(value: Any) -> str:
    return str(value)


@dataclass(frozen=True)
class Column:
    """A column of a run table: where its value comes from, its heading, and how a value is written."""

    name: str
    heading: str
    format: Format = _text
    kind: str = "number"  # the cell's CSS class: "number" (right-aligned), "text" or "error"


@dataclass
class RunTable:
    """Rows of one job each, for the template: the job's folder link, its status and the other cells."""

    headings: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


RUN_METRICS = (
    Column("test_accuracy", "test accuracy", _fixed(4)), Column("best_val_accuracy", "best val accuracy", _fixed(4)),
    Column("epochs_completed", "epochs", _text), Column("first_epoch_seconds", "first epoch s", _fixed(2)),
    Column("epoch_seconds", "epoch s (median)", _fixed(2)), Column("epoch_range", "epoch s range", _text),
    Column("train_samples_per_second", "train samples/s", _thousands), Column("train_seconds", "train s", _fixed(1)),
)
MACHINE_COLUMNS = (
    ("device", "device"), ("threads", "threads"), ("tensorflow_version", "TensorFlow"), ("keras_version", "Keras"),
    ("rnn_sweep_version", "rnn-sweep"), ("data_source", "data"),
)
TIMING_FORMATS = {"epoch_seconds": _fixed(2, " s"), "train_samples_per_second": _thousands}
_GOOD, _BAD = "color: #1a7f37; font-weight: bold", "color: #a40000; font-weight: bold"
VERDICT_STYLES = {"better": _GOOD, "faster": _GOOD, "worse": _BAD, "slower": _BAD, "inconclusive": "color: #666"}
RACE_STATE_STYLES = {"leader": _GOOD, "better": _GOOD, "worse": _BAD, "tied": "color: #1a5fb4",
                     "equivalent": "color: #1a5fb4", "undecided": "color: #666"}


def write_sweep_page(tables: SweepTables, dimensions: list[str]) -> Path:
    """report.html from the sweep's tables (and summary.csv where the folder has one); `dimensions`: the settings
    that vary, one column each in the run tables."""
    folder = tables.folder
    results = tables.results.assign(epoch_range=[_epoch_range(folder, run_dir) for run_dir in tables.results.run_dir])
    settings = [Column(name, name, _text, "text") for name in dimensions]
    failed = results[not_ok(results)]  # a pruned search trial is no failure
    accuracy_table, accuracy_note = _accuracy(folder, tables.accuracy)
    page = _render(
        "sweep.html.j2", title=f"rnn-sweep sweep {folder.name}", subtitle=str(folder),
        command=sweep_command(folder), machine=_machine(results), accuracy_table=accuracy_table,
        accuracy_note=accuracy_note, timing_table=_html(_styled(tables.timing, _timing_formats(tables.timing))),
        ok=int((results["status"] == "ok").sum()), pruned=int((results["status"] == "pruned").sum()),
        runs=_run_table(folder, results, [*settings, *RUN_METRICS]),
        failed=_run_table(folder, failed, [*settings, Column("overrides", "overrides", overrides_text, "text"),
                                           Column("error", "error", _text, "error")]),
        missing=[(path.name, _link(folder, path), why) for path, why in tables.missing()],
        plots=_plots(folder), folder=folder,
        pareto=_pareto_front(folder),
        race_table=_race(folder),
        effects_note=tables.effects.note, effects=_effects(tables.effects.table),
        recommendation=tables.recommendation.sentences(), frontier_table=_frontier(tables),
    )
    atomic.write_text(folder / REPORT_HTML, page)
    return folder / REPORT_HTML


EFFECT_METRICS = {"test_accuracy": "test accuracy", "epoch_seconds": "epoch seconds (fit on log; level means are "
                                                                      "geometric)"}


def _effects(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Per metric of effects.csv: its factor rows (p-value, share of the variance) and its level rows (means)."""
    shown = []
    for metric, heading in EFFECT_METRICS.items():
        rows = table[table["metric"] == metric]
        if rows.empty:
            continue
        factors = rows[rows["level"].isna()][["factor", "n", "p_value", "share", "share_ci_low", "share_ci_high"]]
        levels = rows[rows["level"].notna()][["factor", "level", "n", "mean", "ci_low", "ci_high"]]
        digits = _fixed(3) if metric == "epoch_seconds" else _fixed(4)
        shown.append({"heading": heading, "factors": _html(_styled(factors.rename(columns={
            "p_value": "p", "share": "share (partial η²)", "share_ci_low": "share CI low",
            "share_ci_high": "share CI high"}), {"p": lambda value: f"{value:.3g}", "share (partial η²)": _fixed(3),
                                                 "share CI low": _fixed(3), "share CI high": _fixed(3)},
            index=False)), "levels": _html(_styled(levels, dict.fromkeys(("mean", "ci_low", "ci_high"), digits),
                                                   index=False))})
    return shown


def _frontier(tables: SweepTables) -> Markup | None:
    """The settings on the frontier (no other both more accurate and faster), fastest first."""
    summary = tables.summary
    if summary.empty or ACCURACY_MEAN not in summary:
        return None
    usable = summary[summary[ACCURACY_MEAN].notna() & summary[EPOCH_TIME].notna()]
    if len(usable) < 2:
        return None
    keys = setting_keys(tables.results)
    shown = [key for key in keys if usable[key].nunique(dropna=True) > 1] or keys[:1]
    best = usable[frontier(usable)].sort_values(EPOCH_TIME)
    frame = pd.DataFrame({"setting": [setting_label(row, shown) for _, row in best.iterrows()], "n": best["n"],
                          "test accuracy": best[ACCURACY_MEAN], "95% CI low": best["test_accuracy_ci_low"],
                          "95% CI high": best["test_accuracy_ci_high"], "epoch s (median)": best[EPOCH_TIME],
                          "epoch s IQR": best["epoch_seconds_iqr"]})
    formats = {**dict.fromkeys(("test accuracy", "95% CI low", "95% CI high"), _fixed(4)),
               "epoch s (median)": _fixed(2), "epoch s IQR": _fixed(2)}
    return _html(_styled(frame, formats, index=False))


def write_comparison_page(comparison: Comparison, a: Path, b: Path, out: Path, command: str) -> Path:
    """The matched runs with B's change against A, its confidence interval and p-value, verdicts coloured."""
    matched = comparison.matched
    shown = [key for key in comparison.keys if matched[key].nunique() > 1] or comparison.keys[:1]
    same = [(key, matched[key].iloc[0]) for key in comparison.keys if key not in shown and not matched.empty]
    columns = _comparison_columns(matched)
    frame = matched[[*shown, *columns]].rename(columns={name: heading for name, (heading, _) in columns.items()})
    styler = _styled(frame, {heading: fmt for heading, fmt in columns.values()}, index=False)
    verdicts = [columns[name][0] for name in ("verdict", "time_verdict")]
    styler = styler.map(lambda value: VERDICT_STYLES.get(str(value), ""), subset=verdicts)
    unmatched = [(side.upper(), path, _describe(comparison.only(side), comparison.keys))
                 for side, path in (("a", a), ("b", b)) if not comparison.only(side).empty]
    page = _render("compare.html.j2", title="rnn-sweep compare", subtitle=f"A: {a}   B: {b}", command=command,
                   a=a, b=b, same=same, table=_html(styler), unmatched=unmatched,
                   note="Δ is B minus A; ratios are B/A (below 1 for epoch seconds, above 1 for samples/s: B faster).")
    atomic.write_text(out, page)
    return out


def sweep_command(folder: Path) -> str:
    """The sweep's command line as Hydra recorded it in multirun.yaml (its own flags, then the overrides)."""
    try:
        overrides = OmegaConf.to_container(OmegaConf.load(folder / MULTIRUN_FILE).hydra.overrides, resolve=False)
    except Exception:  # a folder of runs gathered by hand, or a damaged file: the page says so
        return f"(not recorded: {folder / MULTIRUN_FILE} is missing or unreadable)"
    flags = [item for item in overrides.get("hydra", []) if not str(item).startswith("hydra.mode=")]
    return shlex.join(["rnn-sweep", "-m", *map(str, flags), *map(str, overrides.get("task", []))])


def _render(template: str, **values: Any) -> str:
    from rnn_sweep import __version__

    written_at = datetime.now().astimezone().isoformat(timespec="seconds")
    return _TEMPLATES.get_template(template).render(version=__version__, written_at=written_at, **values)


def _styled(frame: pd.DataFrame, formats: dict[Any, Format], index: bool = True) -> Any:
    """A Styler with numbers formatted per column and a dash for a missing value."""
    styler = frame.style.format(formats, na_rep="-", escape="html")
    styler = styler.format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    return styler.hide(axis="index") if not index else styler


def _html(styler: Any) -> Markup:
    """The Styler's table, trusted by the template (the Styler escaped every value and heading)."""
    return Markup(styler.to_html())


def _accuracy(folder: Path, accuracy: pd.DataFrame) -> tuple[Markup, str]:
    """summary.csv (seeds folded: mean, sd and CI) where the sweep has one, else the accuracy pivot."""
    if (folder / SUMMARY_CSV).is_file():
        summary = read_table(folder / SUMMARY_CSV)
        # Settings (a learning rate) with every digit they were given, so two of them never print alike.
        formats = {column: _fixed(4) if column in SUMMARY_COLUMNS else _text
                   for column in summary.columns if pd.api.types.is_float_dtype(summary[column])}
        note = f"One row per setting, seeds folded ({SUMMARY_CSV}): the mean over seeds with its 95% CI."
        return _html(_styled(summary, formats, index=False)), note
    note = "One value per run (no summary.csv in this sweep folder, so seeds are not folded)."
    return _html(_styled(accuracy, dict.fromkeys(accuracy.columns, _fixed(4)))), note


def _race(folder: Path) -> Markup | None:
    """A race's rounds (race.csv): per setting and round the mean test accuracy, its repeated interval and the state
    then; a setting's cells stop at the round it was decided. None for a sweep that was no race."""
    try:
        race = pd.read_csv(folder / RACE_CSV)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    settings = [column for column in race.columns if column not in RACE_FILE_COLUMNS]
    labels = [" ".join(f"{key}={row[key]}" for key in settings) or "all" for _, row in race.iterrows()]
    race = race.assign(setting=labels,
                       cell=[f"{row.mean:.4f} [{row.ci_low:.4f}, {row.ci_high:.4f}] n={row.n} {row.state}"
                             if pd.notna(row.ci_low) else f"{row.mean:.4f} n={row.n} {row.state}"
                             for row in race.itertuples()])
    last = race.groupby("setting")["n"].transform("max")
    shown = race[(race["n"] < last) | ~race.duplicated(["setting", "n"])]  # a decided setting's repeats left out
    table = shown.pivot(index="setting", columns="round", values="cell").fillna("")
    table.columns = [f"round {number}" for number in table.columns]

    def style(cell: str) -> str:
        return RACE_STATE_STYLES.get(cell.rsplit(" ", 1)[-1], "") if cell else ""

    return _html(table.style.map(style))


def _timing_formats(timing: pd.DataFrame) -> dict[Any, Format]:
    def value_name(column: Any) -> str:
        return column[0] if isinstance(column, tuple) else column

    return {column: TIMING_FORMATS.get(value_name(column), _text) for column in timing.columns}


def _run_table(folder: Path, frame: pd.DataFrame, columns: list[Column]) -> RunTable:
    present = [column for column in columns if column.name in frame.columns]
    table = RunTable(["job", "status", *(column.heading for column in present)])
    for _, row in frame.iterrows():
        cells = [{"text": _shown(row[column.name], column.format), "kind": column.kind} for column in present]
        table.rows.append({"job": Path(str(row["run_dir"])).name, "link": _link(folder, Path(str(row["run_dir"]))),
                           "status": row["status"], "cells": cells})
    return table


def _shown(value: Any, fmt: Format) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt(value)


def _run_folder(folder: Path, run_dir: Path) -> Path:
    """The job's folder now: where it was recorded if that is inside the sweep, else by name (a moved sweep)."""
    try:
        return folder / run_dir.resolve().relative_to(folder.resolve())
    except ValueError:
        return folder / run_dir.name


def _link(folder: Path, run_dir: Path) -> str | None:
    """A link relative to the page, so a copied or moved sweep folder keeps working; `./`-prefixed and URL-quoted,
    so a folder named `javascript:alert(1)` is a folder to the browser, never a script. None for a name that would
    lead out of the sweep folder."""
    relative = PurePosixPath(Path(os.path.relpath(_run_folder(folder, run_dir), folder)).as_posix())
    if ".." in relative.parts or relative.is_absolute():
        return None
    return "./" + quote(relative.as_posix(), safe="/") + "/"


def _epoch_range(folder: Path, run_dir: Any) -> str | None:
    """The fastest and slowest epoch after the first (the first includes tracing), from the run's history.csv."""
    path = _run_folder(folder, Path(str(run_dir))) / HISTORY_FILE
    if not path.is_file():
        return None
    seconds = pd.read_csv(path)["epoch_seconds"].dropna()
    steady = seconds.iloc[1:] if len(seconds) > 1 else seconds
    return None if steady.empty else f"{steady.min():.2f} – {steady.max():.2f}"


def _machine(results: pd.DataFrame) -> list[tuple[str, str]]:
    """Where the jobs ran, as their records say (a sweep on a cluster may span several kinds of machine)."""
    shown = []
    for column, label in MACHINE_COLUMNS:
        if column in results.columns:
            values = [str(value) for value in results[column].dropna().unique()]
            if values:
                shown.append((label, "; ".join(values)))
    for column, label, pick in (("started_at", "first job started", min), ("finished_at", "last job finished", max)):
        if column in results.columns and results[column].notna().any():
            shown.append((label, pick(results[column].dropna().astype(str))))
    return shown


def _pareto_front(folder: Path) -> dict[str, Any] | None:
    """A search of several objectives: its Pareto front (optuna_pareto.csv), each trial linked to its job folder."""
    if not (folder / PARETO_CSV).is_file():
        return None
    front = pd.read_csv(folder / PARETO_CSV)
    values = [column for column in front.columns if column not in ("trial", "job", "command")]
    rows = [{"link": _link(folder, folder / str(row["job"])), "job": row["job"], "trial": row["trial"],
             "values": [f"{row[column]:.4g}" if isinstance(row[column], float) else _text(row[column])
                        for column in values], "command": row["command"]}
            for row in front.to_dict("records")]
    return {"headings": values, "rows": rows}


def _plots(folder: Path) -> list[dict[str, str]]:
    return [{"name": path.name, "data": base64.b64encode(path.read_bytes()).decode("ascii")}
            for path in sorted(folder.glob("*.png"))]


def _comparison_columns(matched: pd.DataFrame) -> dict[str, tuple[str, Format]]:
    """The comparison's metric columns that this table has, as {column: (heading, format)}."""
    known = {
        "n_a": ("n A", _text), "n_b": ("n B", _text),
        "test_accuracy_a": ("acc A", _fixed(4)), "test_accuracy_b": ("acc B", _fixed(4)),
        "delta_accuracy": ("Δ acc", lambda value: f"{value:+.4f}"),
        "delta_ci_low": ("Δ CI low", lambda value: f"{value:+.4f}"),
        "delta_ci_high": ("Δ CI high", lambda value: f"{value:+.4f}"),
        "p_value": ("p", lambda value: f"{value:.3g}"),
        "p_holm": ("p (Holm)", lambda value: f"{value:.3g}"), "test": ("test", _text), "verdict": ("verdict", _text),
        "time_ratio": ("epoch s B/A", _fixed(2, "x")),
        "time_ratio_ci_low": ("ratio CI low", _fixed(2, "x")), "time_ratio_ci_high": ("ratio CI high", _fixed(2, "x")),
        "train_samples_per_second_ratio": ("samples/s B/A", _fixed(2, "x")), "time_verdict": ("time verdict", _text),
    }
    return {name: spec for name, spec in known.items() if name in matched.columns}


def _describe(rows: pd.DataFrame, keys: list[str]) -> list[str]:
    return [" ".join(f"{key}={row[key]}" for key in keys) for _, row in rows.iterrows()]
