"""A sweep's tables: every job's result.json, read from disk, as results.csv, accuracy.csv, timing.csv and
summary.csv (seeds folded, with confidence intervals).

Reading from disk (not from the launcher's return values) is what makes this work for jobs that ran in
other processes or on other machines, and what lets `rnn-sweep report` rebuild the same files later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from rnn_sweep import atomic
from rnn_sweep.config.overrides import overrides_as_json
from rnn_sweep.console import print_whole
from rnn_sweep.record.columns import (
    ACCURACY_CSV,
    COLUMNS,
    CONFIG_COLUMNS,
    EFFECTS_CSV,
    ENDED_WELL,
    IMPLIED_BY_OLDER_RECORDS,
    LIST_COLUMNS,
    OPTUNA_CSV,
    PRESETS_CSV,
    REPORT_HTML,
    RESULTS_CSV,
    SUMMARY_CSV,
    TIMING_CSV,
    extra_settings,
    label,
    lists_as_json,
    show,
    typed,
)
from rnn_sweep.record.fold import not_ok
from rnn_sweep.record.result_files import ResultFileError, scan_results
from rnn_sweep.report.effects import Effects, search_effects, sweep_effects
from rnn_sweep.report.frontier import DEFAULT_MARGIN, Recommendation, recommend
from rnn_sweep.report.presets import preset_summary, preset_table
from rnn_sweep.report.summary import setting_keys, summary_frame

# Varied config columns go to the rows when they are one of these, to the columns otherwise.
ROW_COLUMNS = ("cell", "units")
TIMING_VALUES = ("epoch_seconds", "train_samples_per_second")
# What the terminal shows of summary.csv: the accuracy with its interval and n, the timing medians.
ACCURACY_SHOWN = ("test_accuracy_mean", "test_accuracy_ci_low", "test_accuracy_ci_high", "n")
TIMING_SHOWN = ("epoch_seconds_median", "train_samples_per_second_median")


def results_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per record with every results column (in order), plus one column per other swept key."""
    frame = pd.DataFrame([{**IMPLIED_BY_OLDER_RECORDS, **record} for record in records])
    extra = [column for column in frame.columns if column not in COLUMNS]
    frame = frame.reindex(columns=[*COLUMNS, *extra])
    for column in LIST_COLUMNS:
        frame[column] = frame[column].map(overrides_as_json if column == "overrides" else _json_list)
    for key, values in _other_overrides(frame).items():
        frame[key] = values
    return typed(frame).sort_values("run_dir", key=_job_order, ignore_index=True)


def _job_order(run_dirs: pd.Series) -> pd.Series:
    """Job folders in number order (0, 1, 2, ..., 10), anything else after them by name."""
    names = run_dirs.map(lambda run_dir: Path(str(run_dir)).name)
    return names.map(lambda name: (0, int(name), "") if name.isdigit() else (1, 0, name))


def _other_overrides(frame: pd.DataFrame) -> dict[str, list[str | None]]:
    """Swept keys that have no column of their own (e.g. model.dropout=0,0.2), by row."""
    parsed = [extra_settings(text, speed_levers=True) for text in frame["overrides"]]
    keys = sorted({key for overrides in parsed for key in overrides})
    by_key = {key: [overrides.get(key) for overrides in parsed] for key in keys}
    return {key: values for key, values in by_key.items() if len(set(values)) > 1}


def _json_list(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, tuple)) else value


def varied_columns(frame: pd.DataFrame) -> list[str]:
    """The config columns (and other swept keys) that take more than one value in this sweep."""
    candidates = [*CONFIG_COLUMNS, *(c for c in frame.columns if c not in COLUMNS)]
    return [column for column in candidates if frame[column].nunique(dropna=True) > 1]


def pivot_axes(frame: pd.DataFrame, fold_seeds: bool = False) -> tuple[list[str], list[str]]:
    """Rows: cell and units where they varied; columns: everything else that varied (but the seed, if folded)."""
    varied = [column for column in varied_columns(frame) if not (fold_seeds and column == "seed")]
    rows = [column for column in varied if column in ROW_COLUMNS]
    columns = [column for column in varied if column not in ROW_COLUMNS]
    if not rows:
        rows, columns = (columns[:1], columns[1:]) if columns else (list(ROW_COLUMNS), [])
    return rows, columns


def pivot(frame: pd.DataFrame, values: list[str], axes: tuple[list[str], list[str]] | None = None) -> pd.DataFrame:
    """`values` laid out by `axes` (default `pivot_axes`); a job that failed has an empty cell (its row is in
    results.csv). Only settings that ran get a row or column: a search's trials are not a cross product."""
    rows, columns = axes or pivot_axes(frame)
    usable = frame.dropna(subset=rows + columns)
    if not columns:
        return usable.groupby(rows, dropna=False)[values].first()
    table = usable.pivot_table(index=rows, columns=columns, values=values, aggfunc="first", dropna=False)
    ran_rows = pd.MultiIndex.from_frame(usable[rows]) if len(rows) > 1 else pd.Index(usable[rows[0]])
    table = table[table.index.isin(ran_rows)]
    ran = {tuple(key) for key in usable[columns].itertuples(index=False)}
    table = table.loc[:, [column[1:] in ran for column in table.columns]]
    return table.reindex(columns=values, level=0)  # pivot_table sorts the values by name


def flat_csv(table: pd.DataFrame) -> str:
    """A pivot as a CSV that plain `pd.read_csv` reads: the row keys as columns, one header line naming each
    column by its setting (`batch_size=128`, `epoch_seconds batch_size=128` where several values share it)."""
    flat = table.copy()
    if isinstance(flat.columns, pd.MultiIndex):
        names = flat.columns.names[1:]
        several = flat.columns.get_level_values(0).nunique() > 1
        flat.columns = [" ".join([*([column[0]] if several else []),
                                  *(f"{name}={value}" for name, value in zip(names, column[1:], strict=True))])
                        for column in flat.columns]
    return flat.reset_index().to_csv(index=False)


@dataclass(frozen=True)
class SweepTables:
    """A sweep folder's tables as its CSV files hold them, and the job folders that are not in them."""

    folder: Path
    results: pd.DataFrame
    accuracy: pd.DataFrame
    timing: pd.DataFrame
    presets: pd.DataFrame  # empty when no job ran a preset
    summary: pd.DataFrame  # one row per setting, seeds folded
    unfinished: list[Path]  # a job folder without result.json: still running, or killed
    unreadable: list[ResultFileError]
    effects: Effects = field(default_factory=lambda: sweep_effects(pd.DataFrame()))  # what matters (effects.csv)
    recommendation: Recommendation = field(default_factory=lambda: Recommendation(DEFAULT_MARGIN, reason=""))

    def missing(self) -> list[tuple[Path, str]]:
        """(job folder, why) for every job that has no row in results.csv."""
        return [(folder, "no result.json: still running, or killed") for folder in self.unfinished] + [
            (error.path.parent, f"result.json unreadable: {error.reason}") for error in self.unreadable
        ]


def sweep_tables(sweep_dir: Path, margin: float = DEFAULT_MARGIN) -> SweepTables:
    """Every table of the sweep, computed once from its jobs' result.json files; the CSV files, the terminal, the
    page, the plots and TensorBoard all render this one object (report/sweep_report.py). `margin`: the accuracy
    difference that does not matter, for the recommendation.

    A damaged result.json or a job that never finished is left out of the tables and listed in the answer.
    """
    scan = scan_results(sweep_dir)
    frame = results_frame([{**record, "run_dir": relative_run_dir(record["run_dir"], sweep_dir)}
                           for record in scan.records])
    if frame.empty:
        return SweepTables(sweep_dir, frame, frame, frame, frame, frame, scan.unfinished, scan.unreadable)
    summary = summary_frame(frame)
    return SweepTables(sweep_dir, frame, pivot(frame, ["test_accuracy"]), pivot(frame, list(TIMING_VALUES)),
                       preset_summary(frame, varied_columns(frame)), summary, scan.unfinished, scan.unreadable,
                       search_effects() if (sweep_dir / OPTUNA_CSV).is_file() else sweep_effects(frame),
                       recommend(frame, summary, setting_keys(frame), margin))


def write_csv_tables(tables: SweepTables) -> None:
    """results.csv, summary.csv, accuracy.csv, timing.csv, effects.csv (a sweep with seeds) and presets.csv (of
    preset runs), each atomically."""
    folder = tables.folder
    atomic.write_text(folder / RESULTS_CSV, tables.results.to_csv(index=False))
    atomic.write_text(folder / SUMMARY_CSV, tables.summary.to_csv(index=False))
    atomic.write_text(folder / ACCURACY_CSV, flat_csv(tables.accuracy))
    atomic.write_text(folder / TIMING_CSV, flat_csv(tables.timing))
    if tables.effects.table.empty:
        (folder / EFFECTS_CSV).unlink(missing_ok=True)  # an older one would no longer match the runs
    else:
        atomic.write_text(folder / EFFECTS_CSV, tables.effects.table.to_csv(index=False))
    if not tables.presets.empty:
        atomic.write_text(folder / PRESETS_CSV, lists_as_json(tables.presets).to_csv(index=False))


def relative_run_dir(run_dir: str, sweep_dir: Path) -> str:
    """A job folder as the tables store it: relative to the sweep folder, so a copied or moved sweep still works."""
    path = Path(run_dir)
    return path.relative_to(sweep_dir).as_posix() if path.is_relative_to(sweep_dir) else run_dir


def failed_jobs(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows whose status is neither `ok` nor `pruned` (a search stopping a hopeless trial is no failure)."""
    return frame[not_ok(frame)] if not frame.empty else frame


def print_sweep_tables(tables: SweepTables, console: Console) -> None:
    """The accuracy and timing pivots as rich tables, then the jobs that did not end `ok`, then those with no result;
    whole in a log (console.print_whole), where rich's 80 columns would cut the headings that tell settings apart."""
    if tables.results.empty:
        console.print(f"No readable result.json found under {tables.folder}.")
    else:
        _print_results(tables, console)
    _print_missing(tables, console)


def _print_results(tables: SweepTables, console: Console) -> None:
    """Accuracy and timing per setting, seeds folded (summary.csv); per-seed values stay in accuracy/timing.csv."""
    frame, sweep_dir = tables.results, tables.folder
    axes = pivot_axes(frame, fold_seeds=True)
    summary = tables.summary
    seeds = "mean [95% CI] (n runs) where n >= 2; " if (summary["n"] > 1).any() else ""
    accuracy, timing = label(ACCURACY_SHOWN[0]), " | ".join(map(label, TIMING_SHOWN))
    print_whole(_table(f"{accuracy} ({seeds}{sweep_dir / SUMMARY_CSV}, per run: {sweep_dir / ACCURACY_CSV})",
                       accuracy, pivot(summary, list(ACCURACY_SHOWN), axes), axes[0], _mean_cell), console)
    print_whole(_table(f"{timing} ({sweep_dir / SUMMARY_CSV}, per run: {sweep_dir / TIMING_CSV})", timing,
                       pivot(summary, list(TIMING_SHOWN), axes), axes[0],
                       lambda cells: " | ".join(map(show, TIMING_SHOWN, cells))), console)
    if not tables.presets.empty:
        print_whole(preset_table(tables.presets, f"presets ({sweep_dir / PRESETS_CSV})"), console)
    ok, pruned = (int((frame["status"] == status).sum()) for status in ENDED_WELL)
    console.print(f"{ok} of {len(frame)} jobs ok{f', {pruned} pruned' if pruned else ''}; every row: "
                  f"{sweep_dir / RESULTS_CSV}; the page: {sweep_dir / REPORT_HTML}")
    _print_answers(tables, console)
    failed = failed_jobs(frame)
    if not failed.empty:
        table = Table(title="jobs that did not end ok", title_justify="left")
        shown = ("run_dir", "status", "overrides", "error")
        for name in shown:
            table.add_column(label(name), overflow="fold")
        for _, row in failed.iterrows():
            table.add_row(*(show(name, row[name]) for name in shown))
        console.print(table)


def _print_answers(tables: SweepTables, console: Console) -> None:
    """What matters (the accuracy's factor rows of effects.csv) and the recommendation for a time budget."""
    effects = tables.effects.table
    if effects.empty:
        console.print(tables.effects.note)
    else:
        rows = effects[(effects["metric"] == "test_accuracy") & effects["level"].isna()]
        shares = "; ".join(f"{row.factor} {row.share:.0%}" + ("" if pd.isna(row.p_value) else f" (p={row.p_value:.3g})")
                           for row in rows.itertuples())
        console.print(f"What matters for test accuracy (share of the variance): {shares}. {tables.effects.note} "
                      f"Levels and epoch time: {tables.folder / EFFECTS_CSV}")
    for line in tables.recommendation.sentences():
        console.print(line, markup=False)


def _print_missing(tables: SweepTables, console: Console) -> None:
    """A partial sweep says so: which job folders the tables leave out, and how to finish them."""
    missing = tables.missing()
    if not missing:
        return
    console.print(f"[bold yellow]PARTIAL: {len(missing)} job folder(s) have no result and no row in the tables:[/]")
    table = Table()
    for header in ("job folder", "why"):
        table.add_column(header, overflow="fold")
    for folder, why in missing:
        table.add_row(str(folder), why)
    console.print(table)
    console.print(f"Finish them: run the sweep's command again with hydra.sweep.dir={tables.folder} "
                  "(jobs already ok are skipped).")


def _table(title: str, heading: str, data: pd.DataFrame, rows: list[str], cell: Any) -> Table:
    """`data` (values at column level 0, column keys below) as a table; `cell` formats one position's values;
    `heading` heads the one column of values where no setting is laid out across."""
    table = Table(title=title, title_justify="left")
    for name in rows:
        table.add_column(label(name), style="bold")
    values = list(dict.fromkeys(data.columns.get_level_values(0)))
    positions = list(dict.fromkeys(column[1:] if isinstance(column, tuple) else () for column in data.columns))
    names = data.columns.names[1:] if isinstance(data.columns, pd.MultiIndex) else []
    for position in positions:
        header = " ".join(f"{name}={value}" for name, value in zip(names, position, strict=True)) or heading
        table.add_column(header, justify="right")
    for index, row in data.iterrows():
        keys = index if isinstance(index, tuple) else (index,)
        cells = [cell([row[(value, *position)] if position else row[value] for value in values])
                 for position in positions]
        table.add_row(*map(show, rows, keys), *cells)
    return table


def _mean_cell(cells: list[Any]) -> str:
    """`mean [low, high] (n)` where n >= 2 (the interval is not symmetric); the one run's accuracy where n = 1."""
    mean, low, high, n = map(show, ACCURACY_SHOWN, cells)
    if pd.isna(cells[3]) or cells[3] < 2 or pd.isna(cells[1]):
        return mean
    return f"{mean} [{low}, {high}] ({n})"
