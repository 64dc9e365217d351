"""Match the runs of two result tables on the settings that identify a run, and work out the differences.

Only pandas and files on disk: no TensorFlow, so `rnn-sweep compare` starts in well under two seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rnn_sweep.config.schema import NON_IDENTITY_KEYS
from rnn_sweep.errors import UserError
from rnn_sweep.results.columns import (
    ACCURACY,
    IMPLIED_BY_OLDER_RECORDS,
    OVERRIDE_COLUMNS,
    RATIO_METRICS,
    RESULTS_CSV,
    SETTING_COLUMNS,
    parse_overrides,
)
from rnn_sweep.results.record import scan_results

NOT_GIVEN = "(not given)"
_RESULTS_HINT = "Point compare at outputs/sweeps/<stamp>, outputs/runs/<stamp> or a results.csv that rnn-sweep wrote."


@dataclass(frozen=True)
class Comparison:
    """One row per run found in A, in B or in both (`match`), with A's and B's metrics side by side."""

    table: pd.DataFrame
    keys: list[str]

    @property
    def matched(self) -> pd.DataFrame:
        return self.table[self.table["match"] == "both"]

    def only(self, side: str) -> pd.DataFrame:
        return self.table[self.table["match"] == f"only_{side}"]

    def worse(self, threshold: float) -> pd.DataFrame:
        """Matched rows whose accuracy dropped by more than `threshold`, or that B lost (failed) altogether."""
        rows = self.matched
        a, b = rows[f"{ACCURACY}_a"], rows[f"{ACCURACY}_b"]
        return rows[(a - b > threshold) | (a.notna() & b.isna())]


def load_results(where: Path) -> pd.DataFrame:
    """A results.csv, a sweep folder (its results.csv, else every result.json below it) or a run folder."""
    where = Path(where)
    if not where.exists():
        raise UserError(
            f"{where} does not exist. compare takes two results.csv files, sweep folders or run folders, "
            "e.g. rnn-sweep compare outputs/sweeps/2026-01-01_10-00-00 outputs/sweeps/2026-01-02_10-00-00."
        )
    if where.is_dir() and (where / RESULTS_CSV).is_file():
        where = where / RESULTS_CSV
    if where.is_dir():
        records = [{**IMPLIED_BY_OLDER_RECORDS, **record} for record in _folder_records(where)]
        return _with_override_columns(pd.DataFrame(records))
    if where.stat().st_size == 0:
        raise UserError(f"{where} is empty (0 bytes), so it holds no results to compare. {_RESULTS_HINT}")
    try:
        frame = pd.read_csv(where)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"Cannot read {where} as a results CSV: {' '.join(str(error).split())}.") from None
    if frame.empty:
        raise UserError(f"{where} has a header ({', '.join(map(str, frame.columns[:4]))}, ...) but no rows, so it "
                        f"holds no results to compare. {_RESULTS_HINT}")
    for column, value in IMPLIED_BY_OLDER_RECORDS.items():
        if column not in frame.columns:
            frame[column] = value
    return _with_override_columns(frame)


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
    parsed = [_settings(text) for text in frame["overrides"]]
    extra = sorted({key for row in parsed for key in row} - set(frame.columns))
    additions = {key: [row.get(key, NOT_GIVEN) for row in parsed] for key in extra}
    return pd.concat([frame, pd.DataFrame(additions, index=frame.index)], axis=1) if extra else frame


def _settings(text: object) -> dict[str, str]:
    """The overrides that can tell runs apart: not those with a column of their own, nor where/how keys."""
    return {
        key: value
        for key, value in parse_overrides(text).items()
        if key not in OVERRIDE_COLUMNS and key not in NON_IDENTITY_KEYS and not key.startswith("hydra.")
    }


def match_keys(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """The core settings, plus every other setting column (seed, extra overrides) that varies in A or in B."""
    candidates = ["seed", *sorted(c for c in set(a.columns) | set(b.columns) if _is_override_column(c))]
    return [*SETTING_COLUMNS, *(column for column in candidates if _varies(a, column) or _varies(b, column))]


def _is_override_column(column: str) -> bool:
    return "." in column or column in ("model", "optimizer", "data", "train", "experiment", "sweep")


def _varies(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and frame[column].nunique(dropna=False) > 1


def compare(a: pd.DataFrame, b: pd.DataFrame, on: list[str] | None = None) -> Comparison:
    """Pair the runs of A and B on `on` (default: `match_keys`); raise UserError when nothing pairs up."""
    keys = list(on) if on else match_keys(a, b)
    for label, frame in (("A", a), ("B", b)):
        _require(label, frame, keys, explicit=bool(on))
    sides = [_side(frame, keys, label) for label, frame in (("a", a), ("b", b))]
    table = sides[0].merge(sides[1], on=keys, how="outer", indicator="match", sort=True)
    table["match"] = table["match"].map({"both": "both", "left_only": "only_a", "right_only": "only_b"})
    table[f"{ACCURACY}_delta"] = table[f"{ACCURACY}_b"] - table[f"{ACCURACY}_a"]
    for metric in RATIO_METRICS:
        table[f"{metric}_ratio"] = table[f"{metric}_b"] / table[f"{metric}_a"]
    columns = [*keys, "match", f"{ACCURACY}_a", f"{ACCURACY}_b", f"{ACCURACY}_delta", "test_loss_a", "test_loss_b"]
    for metric in RATIO_METRICS:
        columns += [f"{metric}_a", f"{metric}_b", f"{metric}_ratio"]
    comparison = Comparison(table=table[[*columns, "status_a", "status_b", "run_dir_a", "run_dir_b"]], keys=keys)
    if comparison.matched.empty:
        raise UserError(
            f"No run of A matches a run of B on {', '.join(keys)}: A has {_examples(comparison.only('a'), keys)}, "
            f"B has {_examples(comparison.only('b'), keys)}. Choose the columns to match on with --on, "
            f"e.g. --on {','.join(SETTING_COLUMNS[:2])}."
        )
    return comparison


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
    """Key columns as comparable text, the metrics renamed with the side's suffix; refuse ambiguous rows."""
    side = pd.DataFrame({key: _as_text(frame[key]) if key in frame.columns else NOT_GIVEN for key in keys},
                        index=frame.index)
    duplicated = side.duplicated(keep=False)
    if duplicated.any():
        first = side[duplicated].iloc[0]
        group = frame[(side == first).all(axis=1)]
        telling = [c for c in frame.columns if c not in keys and _is_setting(c) and _varies(group, c)]
        hint = (f"Add what tells them apart to --on, e.g. --on {','.join([*keys, telling[0]])}." if telling else
                "They have the same settings: point compare at one sweep's folder or results.csv.")
        raise UserError(
            f"{label.upper()} has {int(duplicated.sum())} runs that share their {', '.join(keys)} "
            f"(e.g. {', '.join(f'{k}={v}' for k, v in first.items())}), so they cannot be paired one to one. {hint}"
        )
    for column in (ACCURACY, "test_loss", *RATIO_METRICS, "status", "run_dir"):
        side[f"{column}_{label}"] = frame[column] if column in frame.columns else None
    for metric in (ACCURACY, "test_loss", *RATIO_METRICS):
        side[f"{metric}_{label}"] = pd.to_numeric(side[f"{metric}_{label}"], errors="coerce")
    return side


def _is_setting(column: str) -> bool:
    return column == "seed" or _is_override_column(column)


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
