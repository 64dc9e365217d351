"""The pages people look at: report.html in a sweep folder, and the page `rnn-sweep compare --html` writes.

Each is one self-contained file: styles inline, plots embedded as data URIs, links relative to the page, so it
opens from disk with no network and a copied sweep folder still works. Pandas' Styler draws the numeric tables;
the jinja2 templates beside this module (autoescaped) draw the rest.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from omegaconf import OmegaConf

from rnn_sweep import atomic
from rnn_sweep.record.columns import (
    ACCURACY,
    CONFIG_COLUMNS,
    IMPORTANCE_EVALUATOR,
    IMPORTANCES_PLOT,
    MULTIRUN_FILE,
    OPTUNA_CSV,
    PARETO_CSV,
    RACE_CSV,
    RACE_FILE_COLUMNS,
    REPORT_HTML,
    RESULTS_YAML,
    SUMMARY_COLUMNS,
    SUMMARY_CSV,
    TRIAL_JOB,
    TRIAL_OVERRIDES,
    column,
    label,
    setting_text,
    show,
    shown_in,
)
from rnn_sweep.record.fold import not_ok
from rnn_sweep.report.effects import LOG_METRICS, METRICS
from rnn_sweep.report.frontier import ACCURACY_MEAN, EPOCH_TIME, frontier
from rnn_sweep.report.summary import setting_keys

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from rnn_sweep.compare.verdicts import Comparison
    from rnn_sweep.report.tables import SweepTables

_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True,
                         undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


@dataclass
class RunTable:
    """Rows of one job each, for the template: the job's folder link, its status and the other cells."""

    headings: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


# The comparison page's columns after the paired keys, where the comparison has them.
COMPARISON_COLUMNS = (
    "n_a", "n_b", "test_accuracy_a", "test_accuracy_b", "delta_accuracy", "delta_ci_low", "delta_ci_high", "p_value",
    "p_holm", "test", "verdict", "time_ratio", "time_ratio_ci_low", "time_ratio_ci_high",
    "train_samples_per_second_ratio", "time_verdict",
)
_GOOD, _BAD = "color: #1a7f37; font-weight: bold", "color: #a40000; font-weight: bold"
VERDICT_STYLES = {"better": _GOOD, "faster": _GOOD, "worse": _BAD, "slower": _BAD, "inconclusive": "color: #666"}
RACE_STATE_STYLES = {"leader": _GOOD, "better": _GOOD, "worse": _BAD, "tied": "color: #1a5fb4",
                     "equivalent": "color: #1a5fb4", "undecided": "color: #666"}


def write_sweep_page(tables: SweepTables, dimensions: list[str]) -> Path:
    """report.html from the sweep's tables; `dimensions`: the settings that vary, one column each in the tables.
    The settings that do not vary are listed once above the tables."""
    folder, results = tables.folder, tables.results
    failed = results[not_ok(results)]  # a pruned search trial is no failure
    plots = _plots(folder)
    # A search's "What matters" is Optuna's importance evaluator (report.effects.search_effects): its plot goes there.
    importances = next((plot for plot in plots if plot["name"] == IMPORTANCES_PLOT), None) \
        if (folder / OPTUNA_CSV).is_file() else None
    page = _render(
        "sweep.html.j2", title=f"rnn-sweep sweep {folder.name}", subtitle=str(folder),
        command=sweep_command(folder), machine=_machine(results), same=_same_in_every_run(results, dimensions),
        best_trial=_best_trial(folder), accuracy_table=_summary(tables.summary, dimensions),
        accuracy_note=f"One row per setting, seeds folded ({SUMMARY_CSV}): the mean over seeds with its 95% CI.",
        timing_table=_pivot(tables.timing),
        ok=int((results["status"] == "ok").sum()), pruned=int((results["status"] == "pruned").sum()),
        runs=_run_table(folder, results, [*dimensions, *(found.name for found in shown_in("jobs"))]),
        failed=_run_table(folder, failed, [*dimensions, "overrides", "error"]),
        missing=[(path.name, _link(folder, path), why) for path, why in tables.missing()],
        plots=[plot for plot in plots if plot is not importances], importances=importances, folder=folder,
        pareto=_pareto_front(folder),
        race_table=_race(folder),
        effects_note=tables.effects.note, effects=_effects(tables.effects.table),
        recommendation=tables.recommendation.sentences(), frontier_table=_frontier(tables),
    )
    atomic.write_text(folder / REPORT_HTML, page)
    return folder / REPORT_HTML


def _same_in_every_run(results: pd.DataFrame, dimensions: list[str]) -> list[tuple[str, str]]:
    """(label, value) of each setting (and the seed) that every run shares: said once, never a column."""
    same = [name for name in CONFIG_COLUMNS
            if name not in dimensions and name in results and results[name].nunique(dropna=True) == 1]
    return [(label(name), show(name, results[name].dropna().iloc[0])) for name in same]


def _effects(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Per metric of effects.csv: its factor rows (p-value, share of the variance) and its level rows (means, shown
    as the metric's own folds)."""
    shown = []
    for metric in METRICS:
        rows = table[table["metric"] == metric]
        if rows.empty:
            continue
        factors = rows[rows["level"].isna()][["factor", "n", "p_value", "share", "share_ci_low", "share_ci_high"]]
        levels = rows[rows["level"].notna()][["factor", "level", "n", "mean", "ci_low", "ci_high"]]
        levels = levels.rename(columns={fold: f"{metric}_{fold}" for fold in ("mean", "ci_low", "ci_high")})
        heading = label(metric) + (" (fit on log; level means are geometric)" if metric in LOG_METRICS else "")
        shown.append({"heading": heading, "factors": _html(_labelled(factors)), "levels": _html(_labelled(levels))})
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
    frame = best[["n", ACCURACY_MEAN, "test_accuracy_ci_low", "test_accuracy_ci_high", EPOCH_TIME,
                  "epoch_seconds_iqr"]]
    return _html(_labelled(frame.assign(setting=[setting_text(row, shown) for _, row in best.iterrows()])
                           [["setting", *frame.columns]]))


def write_comparison_page(comparison: Comparison, a: Path, b: Path, out: Path, command: str) -> Path:
    """The matched runs with B's change against A, its confidence interval and p-value, verdicts coloured."""
    matched = comparison.matched
    shown = [key for key in comparison.keys if matched[key].nunique() > 1] or comparison.keys[:1]
    same = [(label(key), show(key, matched[key].iloc[0])) for key in comparison.keys
            if key not in shown and not matched.empty]
    columns = [name for name in COMPARISON_COLUMNS if name in matched.columns]
    styler = _labelled(matched[[*shown, *columns]])
    verdicts = [label(name) for name in ("verdict", "time_verdict") if name in columns]
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


def _labelled(frame: pd.DataFrame) -> Styler:
    """A table of named columns, each value in its column's format and each heading its label (the column table's,
    in record/columns.py), every cell escaped."""
    shown = pd.DataFrame({position: frame.iloc[:, position].map(partial(show, name))
                          for position, name in enumerate(frame.columns)}, index=frame.index)
    shown.columns = [label(name) for name in frame.columns]
    return shown.style.format(None, escape="html").format_index(escape="html", axis=1).hide(axis="index")


def _pivot(table: pd.DataFrame) -> Markup:
    """A pivot (the value's name at column level 0, the settings laid across below it, settings as rows) with each
    value in its column's format, headed by labels."""
    shown = pd.DataFrame({position: table.iloc[:, position].map(partial(show, _value_name(key)))
                          for position, key in enumerate(table.columns)}, index=table.index)
    multi = isinstance(table.columns, pd.MultiIndex)
    shown.columns = table.columns.set_levels([label(name) for name in table.columns.levels[0]], level=0) if multi \
        else [label(name) for name in table.columns]
    shown.index.names = [label(name) if name else name for name in table.index.names]
    styler = shown.style.format(None, escape="html").format_index(escape="html", axis=0)
    return _html(styler.format_index(escape="html", axis=1))


def _value_name(key: Any) -> str:
    return key[0] if isinstance(key, tuple) else key


def _html(styler: Styler) -> Markup:
    """The Styler's table, trusted by the template (the Styler escaped every value and heading)."""
    return Markup(styler.to_html())


def _summary(summary: pd.DataFrame, dimensions: list[str]) -> Markup:
    """summary.csv (seeds folded: n, mean, sd, CI, timing) with the settings that vary as its first columns."""
    return _html(_labelled(summary[[*(key for key in summary.columns if key in dimensions), *SUMMARY_COLUMNS]]))


def _race(folder: Path) -> Markup | None:
    """A race's rounds (race.csv): per setting and round the mean test accuracy, its repeated interval and the state
    then; a setting's cells stop at the round it was decided. None for a sweep that was no race."""
    try:
        race = pd.read_csv(folder / RACE_CSV)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    settings = [name for name in race.columns if name not in RACE_FILE_COLUMNS]
    labels = [setting_text(row, settings) for _, row in race.iterrows()]
    race = race.assign(setting=labels,
                       cell=[f"{show(ACCURACY, row.mean)} [{show(ACCURACY, row.ci_low)}, {show(ACCURACY, row.ci_high)}]"
                             f" n={row.n} {row.state}" if pd.notna(row.ci_low)
                             else f"{show(ACCURACY, row.mean)} n={row.n} {row.state}" for row in race.itertuples()])
    last = race.groupby("setting")["n"].transform("max")
    shown = race[(race["n"] < last) | ~race.duplicated(["setting", "n"])]  # a decided setting's repeats left out
    table = shown.pivot(index="setting", columns="round", values="cell").fillna("")
    table.columns = [f"round {number}" for number in table.columns]

    def style(cell: str) -> str:
        return RACE_STATE_STYLES.get(cell.rsplit(" ", 1)[-1], "") if cell else ""

    return _html(table.style.map(style))


def _run_table(folder: Path, frame: pd.DataFrame, names: list[str]) -> RunTable:
    """One row per job: its folder linked, its status, then the columns `names` (those the frame has)."""
    present = [name for name in names if name in frame.columns]
    table = RunTable(["job", "status", *map(label, present)])
    for _, row in frame.iterrows():
        cells = [{"text": show(name, row[name]), "kind": _cell_class(name)} for name in present]
        table.rows.append({"job": Path(str(row["run_dir"])).name, "link": _link(folder, Path(str(row["run_dir"]))),
                           "status": row["status"], "cells": cells})
    return table


def _cell_class(name: str) -> str:
    """The cell's CSS class: numbers right-aligned, text left, an error in red."""
    if name == "error":
        return "error"
    found = column(name)
    return "number" if found is not None and found.kind in ("int", "float") else "text"


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


def _machine(results: pd.DataFrame) -> list[tuple[str, str]]:
    """Where the jobs ran, as their records say (a sweep on a cluster may span several kinds of machine)."""
    shown = []
    for found in shown_in("machine"):
        if found.name in results.columns:
            values = [found.show(value) for value in results[found.name].dropna().unique()]
            if values:
                shown.append((found.label, "; ".join(values)))
    for name, which, pick in (("started_at", "first job", min), ("finished_at", "last job", max)):
        if name in results.columns and results[name].notna().any():
            shown.append((f"{which} {label(name)}", pick(results[name].dropna().astype(str))))
    return shown


def _best_trial(folder: Path) -> dict[str, Any] | None:
    """A search of one objective: its best trial (hydra-optuna-sweeper's optimization_results.yaml) with its number,
    job folder and command line from optuna.csv. None for a sweep that was no such search."""
    try:
        best = OmegaConf.to_container(OmegaConf.load(folder / RESULTS_YAML))
        trials = pd.read_csv(folder / OPTUNA_CSV)
    except Exception:  # noqa: BLE001 - no search here (or a damaged file): the page goes without the section
        return None
    if not isinstance(best, dict) or "best_value" not in best:
        return None  # several objectives: the Pareto front section shows them
    objective = next((name for name in trials.columns if name.startswith("value")), "value")
    name = objective.removeprefix("value_") if objective != "value" else objective
    complete = trials[(trials["state"] == "COMPLETE") & (trials[objective] == best["best_value"])]
    if complete.empty:
        return None
    trial = complete.iloc[0]
    job = trial.get(f"user_attrs_{TRIAL_JOB}")
    overrides = json.loads(trial.get(f"user_attrs_{TRIAL_OVERRIDES}") or "[]")
    return {"number": int(trial["number"]), "objective": label(name), "value": show(name, best["best_value"]),
            "params": [(key, str(value)) for key, value in best.get("best_params", {}).items()],
            "job": None if pd.isna(job) else str(int(job)),
            "link": None if pd.isna(job) else _link(folder, folder / str(int(job))),
            "command": shlex.join(["rnn-sweep", *overrides]) if overrides else None}


def _pareto_front(folder: Path) -> dict[str, Any] | None:
    """A search of several objectives: its Pareto front (optuna_pareto.csv), each trial linked to its job folder."""
    if not (folder / PARETO_CSV).is_file():
        return None
    front = pd.read_csv(folder / PARETO_CSV)
    values = [name for name in front.columns if name not in ("trial", "job", "command")]
    rows = [{"link": _link(folder, folder / str(row["job"])), "job": row["job"], "trial": row["trial"],
             "values": [show(name, row[name]) for name in values], "command": row["command"]}
            for row in front.to_dict("records")]
    return {"headings": [label(name) for name in values], "rows": rows}


# What a plot's file name alone does not say; the others are captioned by their names.
_CAPTIONS = {IMPORTANCES_PLOT: f"{IMPORTANCES_PLOT}: each searched parameter's importance to the objective, by "
                               f"Optuna's {IMPORTANCE_EVALUATOR} evaluator: how far its values in the best 10% of "
                               "the trials stand from those of all trials"}


def _plots(folder: Path) -> list[dict[str, str]]:
    return [{"name": path.name, "caption": _CAPTIONS.get(path.name, path.name),
             "data": base64.b64encode(path.read_bytes()).decode("ascii")} for path in sorted(folder.glob("*.png"))]


def _describe(rows: pd.DataFrame, keys: list[str]) -> list[str]:
    return [setting_text(row, keys) for _, row in rows.iterrows()]
