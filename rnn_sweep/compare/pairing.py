"""Match the runs of two result tables on the settings that identify a run, seeds folded into groups.

Each side becomes one row per setting: the mean accuracy of its runs that ended ok, their median steady epoch,
and what the tests of rnn_sweep.compare.verdicts need (each run's accuracy, folder and test set, every
steady epoch). Only pandas and files on disk: no TensorFlow, so `rnn-sweep compare` starts quickly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnn_sweep.errors import UserError
from rnn_sweep.record.columns import (
    ACCURACY,
    IMPLIED_BY_OLDER_RECORDS,
    MULTIRUN_FILE,
    NUMERIC_COLUMNS,
    RATIO_METRICS,
    RESULT_FILE,
    RESULTS_CSV,
    SETTING_COLUMNS,
    extra_settings,
    parse_numbers,
    read_table,
    typed,
)
from rnn_sweep.record.fold import fold
from rnn_sweep.record.result_files import scan_results, unfinished_record

NOT_GIVEN = "(not given)"
NAN = float("nan")
RUN_FOLDER = "run_folder"  # where the run's files are now (the recorded run_dir, or the copy beside the table)
# What the tests need of each run that ended ok.
RUN_FIELDS = (ACCURACY, RUN_FOLDER, "test_samples", "test_set_hash")
_RESULTS_HINT = "Point compare at outputs/sweeps/<stamp>, outputs/runs/<stamp> or a results.csv that rnn-sweep wrote."


def load_results(where: Path, unfinished: bool = False) -> pd.DataFrame:
    """A results.csv, a sweep folder (its results.csv, else every result.json below it) or a run folder; with
    `unfinished`, also a row (status `unfinished`) for each job folder of that sweep that has no result.json."""
    frame = _load_results(Path(where))
    if unfinished:
        jobs = _unfinished_jobs(Path(where))
        if jobs:
            frame = pd.concat([frame, _with_override_columns(typed(pd.DataFrame(jobs), where))], ignore_index=True)
    return frame


def _unfinished_jobs(where: Path) -> list[dict]:
    """The records job folders without result.json were started for, in the sweep folder `where` is or is in."""
    folder = where if where.is_dir() else where.parent
    if not (folder.is_dir() and (where.is_dir() or (folder / MULTIRUN_FILE).is_file())):
        return []  # a results.csv on its own: no job folders beside it to look at
    records = (unfinished_record(job) for job in scan_results(folder).unfinished)
    return [{**record, RUN_FOLDER: record["run_dir"]} for record in records if record is not None]


def _load_results(where: Path) -> pd.DataFrame:
    if not where.exists():
        raise UserError(
            f"{where} does not exist. compare takes two results.csv files, sweep folders or run folders, "
            "e.g. rnn-sweep compare outputs/sweeps/2026-01-01_10-00-00 outputs/sweeps/2026-01-02_10-00-00."
        )
    if where.is_dir() and (where / RESULTS_CSV).is_file():
        where = where / RESULTS_CSV
    if where.name == RESULTS_CSV and _older_than_its_runs(where):
        where = where.parent  # a job ended (or was resumed) after the table was written: read the jobs themselves
    if where.is_dir():
        records = [{**IMPLIED_BY_OLDER_RECORDS, **record} for record in _folder_records(where)]
        return _with_run_folders(_with_override_columns(typed(pd.DataFrame(records), where)), where)
    if where.stat().st_size == 0:
        raise UserError(f"{where} is empty (0 bytes), so it holds no results to compare. {_RESULTS_HINT}")
    try:
        frame = read_table(where)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"Cannot read {where} as a results CSV: {' '.join(str(error).split())}.") from None
    if frame.empty:
        raise UserError(f"{where} has a header ({', '.join(map(str, frame.columns[:4]))}, ...) but no rows, so it "
                        f"holds no results to compare. {_RESULTS_HINT}")
    for column, value in IMPLIED_BY_OLDER_RECORDS.items():
        if column not in frame.columns:
            frame[column] = value
    return _with_run_folders(_with_override_columns(frame), where.parent)


def _with_run_folders(frame: pd.DataFrame, base: Path) -> pd.DataFrame:
    """Add RUN_FOLDER, where each run's files (test_predictions.npy) are now: `base` itself for a run folder; for a
    sweep, the job folder of that name in `base` (so a copied sweep reads its own copy), else the recorded run_dir."""
    def folder(run_dir: object) -> str | None:
        if (base / RESULT_FILE).is_file():
            return str(base)
        if not isinstance(run_dir, str):
            return None
        beside = base / Path(run_dir).name
        return str(beside if (beside / RESULT_FILE).is_file() else Path(run_dir))

    recorded = frame["run_dir"] if "run_dir" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    return frame.assign(**{RUN_FOLDER: recorded.map(folder)})


def _older_than_its_runs(results_csv: Path) -> bool:
    """Whether a job folder beside this results.csv holds a result.json written after it."""
    written = results_csv.stat().st_mtime_ns
    return any(path.stat().st_mtime_ns > written for path in results_csv.parent.glob(f"*/{RESULT_FILE}"))


def _folder_records(folder: Path) -> list[dict]:
    """The records below a sweep or run folder without a results.csv; a damaged result.json is an error."""
    scan = scan_results(folder)
    records = scan.readable_records()
    if not records and scan.unfinished:
        raise UserError(
            f"No run in {folder} has a result.json yet ({len(scan.unfinished)} run folder(s) without one, e.g. "
            f"{scan.unfinished[0]}): the runs are still going, or were killed before they ended. {_RESULTS_HINT}"
        )
    if not records:
        raise UserError(f"{folder} holds neither a {RESULTS_CSV} nor any result.json below it, so it is not a sweep "
                        f"or run folder. {_RESULTS_HINT}")
    return records


def _with_override_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Add a column for every setting given on the command line that has no column of its own.

    A sweep over `model.dropout=0,0.2` then matches on `model.dropout` too, as written on the command line.
    """
    if "overrides" not in frame.columns:
        return frame
    parsed = [extra_settings(text, speed_levers=False) for text in frame["overrides"]]
    extra = sorted({key for row in parsed for key in row} - set(frame.columns))
    additions = {key: [row.get(key, NOT_GIVEN) for row in parsed] for key in extra}
    return pd.concat([frame, pd.DataFrame(additions, index=frame.index)], axis=1) if extra else frame


def match_keys(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """The core settings, plus every other command-line setting that varies in A or in B; never the seed, whose
    runs are folded (pass --on with seed in it to pair seed by seed)."""
    candidates = sorted(c for c in set(a.columns) | set(b.columns) if _is_override_column(c))
    return [*SETTING_COLUMNS, *(column for column in candidates if _varies(a, column) or _varies(b, column))]


def _is_override_column(column: str) -> bool:
    return "." in column or column in ("model", "optimizer", "data", "train", "experiment", "sweep")


def _varies(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and frame[column].nunique(dropna=False) > 1


def pair(a: pd.DataFrame, b: pd.DataFrame, on: list[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """A's and B's runs folded per setting of `on` (default: `match_keys`) and put side by side, with the keys.

    Raises UserError when nothing pairs up, or when a group mixes settings other than the seed.
    """
    keys = list(on) if on else match_keys(a, b)
    for label, frame in (("A", a), ("B", b)):
        _require(label, frame, keys, explicit=bool(on))
    sides = [_side(frame, keys, label) for label, frame in (("a", a), ("b", b))]
    table = sides[0].merge(sides[1], on=keys, how="outer", indicator="match")
    table = table.sort_values(keys, key=_natural_order, kind="stable").reset_index(drop=True)
    table["match"] = table["match"].map({"both": "both", "left_only": "only_a", "right_only": "only_b"})
    table[f"{ACCURACY}_delta"] = table[f"{ACCURACY}_b"] - table[f"{ACCURACY}_a"]
    for metric in RATIO_METRICS:
        table[f"{metric}_ratio"] = table[f"{metric}_b"] / table[f"{metric}_a"]
    if not (table["match"] == "both").any():
        only_a, only_b = (_examples(table[table["match"] == f"only_{side}"], keys) for side in "ab")
        raise UserError(
            f"No run of A matches a run of B on {', '.join(keys)}: A has {only_a}, B has {only_b}. Choose the "
            f"columns to match on with --on, e.g. --on {','.join(SETTING_COLUMNS[:2])}."
        )
    return table, keys


def _natural_order(column: pd.Series) -> pd.Series:
    """Sort keys: numbers as numbers (units 8 before 16), where the column is numeric in results.csv or every
    value given reads as a number; text otherwise."""
    numbers = pd.to_numeric(column, errors="coerce")
    given = column != NOT_GIVEN
    if column.name in NUMERIC_COLUMNS or numbers[given].notna().all():
        return numbers
    return column


def _require(label: str, frame: pd.DataFrame, keys: list[str], explicit: bool) -> None:
    needed = [*keys, ACCURACY] if explicit else [*SETTING_COLUMNS, ACCURACY]
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise UserError(
            f"{label} has no column {', '.join(missing)}; compare needs {', '.join(needed)} in both tables "
            f"(results.csv or result.json as rnn-sweep writes them). {label}'s columns: "
            f"{', '.join(map(str, frame.columns)) or '(none)'}."
        )


def _side(frame: pd.DataFrame, keys: list[str], label: str) -> pd.DataFrame:
    """One row per setting of `keys`: the runs that share it (their seeds) folded, metrics with the side's suffix."""
    settings = pd.DataFrame({key: _as_text(frame[key]) if key in frame.columns else NOT_GIVEN for key in keys},
                            index=frame.index)
    rows = []
    for values, group in frame.groupby([settings[key] for key in keys], sort=False, dropna=False):
        _refuse_mixed_settings(group, keys, label)
        rows.append({**dict(zip(keys, values, strict=True)), **_fold(group, label)})
    return pd.DataFrame(rows)


def _refuse_mixed_settings(group: pd.DataFrame, keys: list[str], label: str) -> None:
    """Only seeds (and repeats) may be folded: runs that differ in another setting are not samples of one thing."""
    mixed = [column for column in group.columns if column not in keys and column != "seed"
             and (column in SETTING_COLUMNS or _is_override_column(column)) and _varies(group, column)]
    if mixed:
        first = group.iloc[0]
        values = ", ".join(map(str, group[mixed[0]].drop_duplicates().tolist()))
        raise UserError(
            f"{label.upper()} has {len(group)} runs with {', '.join(f'{k}={first[k]}' for k in keys)} that differ in "
            f"{mixed[0]} ({values}), not only in their seed, so they cannot be folded into one sample. Add "
            f"{mixed[0]} to --on, e.g. --on {','.join([*keys, mixed[0]])}."
        )


def _fold(group: pd.DataFrame, label: str) -> dict[str, object]:
    """The group folded (rnn_sweep.record.fold), with the side's suffix: mean accuracy and loss of the runs that
    count, median steady epoch and speed, statuses and folders, and each counted run as a dict for the tests."""
    folded = fold(group)
    ok = folded.runs
    return {
        f"{ACCURACY}_{label}": folded.accuracy.mean if folded.accuracy.n else NAN,
        f"test_loss_{label}": folded.mean("test_loss"),
        f"epoch_seconds_{label}": folded.epoch_seconds_median,
        f"train_samples_per_second_{label}": folded.median("train_samples_per_second"),
        f"status_{label}": _statuses(group),
        f"run_dir_{label}": ";".join(map(str, group["run_dir"])) if "run_dir" in group.columns else None,
        f"runs_{label}": [{column: run.get(column) for column in RUN_FIELDS} for _, run in ok.iterrows()],
        f"epochs_{label}": folded.epochs,
        f"first_epoch_only_{label}": any(len(parse_numbers(value)) == 1 for value in ok.get("epoch_seconds_all", [])),
        f"not_ok_{label}": folded.not_ok,
    }


def _statuses(group: pd.DataFrame) -> str | None:
    """One run: its status; several: how many ended how (e.g. `2 ok, 1 failed`)."""
    if "status" not in group.columns:
        return None
    if len(group) == 1:
        return group["status"].iloc[0]
    counts = group["status"].fillna("unknown").value_counts()
    return ", ".join(f"{count} {status}" for status, count in counts.items())


def _as_text(values: pd.Series) -> pd.Series:
    """Numbers as short canonical text (8 and 8.0, 0.001 and 1e-3 alike), everything else as it is."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().sum() == values.notna().sum():
        return numbers.map(lambda number: NOT_GIVEN if pd.isna(number) else format(float(number), ".12g"))
    return values.map(lambda value: NOT_GIVEN if pd.isna(value) else str(value))


def _examples(rows: pd.DataFrame, keys: list[str], limit: int = 3) -> str:
    shown = ["(" + ", ".join(f"{key}={row[key]}" for key in keys) + ")" for _, row in rows.head(limit).iterrows()]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return (" ".join(shown) + more) if shown else "no runs"
