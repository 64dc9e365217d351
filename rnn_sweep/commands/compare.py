"""`rnn-sweep compare A B`: two sweeps (or runs, or results.csv files) side by side, as a table and a CI gate."""

from __future__ import annotations

import argparse
import math
import shlex
from pathlib import Path

import pandas as pd
from rich import box
from rich.table import Table
from rich.text import Text

from rnn_sweep import atomic
from rnn_sweep.commands.arguments import CommandParser, non_negative
from rnn_sweep.console import stdout
from rnn_sweep.results.columns import ACCURACY, SETTING_COLUMNS
from rnn_sweep.results.html import write_comparison_page
from rnn_sweep.results.pairing import Comparison, compare, load_results

DESCRIPTION = f"""\
Put two sweeps side by side. A and B are results.csv files, sweep folders (their results.csv, else every
result.json below them) or run folders. Runs are paired on {', '.join(SETTING_COLUMNS)}, plus seed and any other
command-line setting that varies inside A or inside B (so sweeps run with different seeds pair up; sweeps
over seeds pair seed by seed). The table shows test accuracy in A and B and the change, and B/A for epoch
seconds and training samples per second; runs found on one side only are listed below it."""

EPILOG = """\
exit status: 0 compared; 1 --fail-if-worse found a worse run; 2 bad arguments or files.
example: rnn-sweep compare outputs/sweeps/2026-01-01_10-00-00 outputs/sweeps/2026-01-02_10-00-00 --fail-if-worse 0.01"""


def main(argv: list[str]) -> int:
    parser = CommandParser(prog="rnn-sweep compare", description=DESCRIPTION, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", metavar="A", type=Path, help="the baseline: results.csv, sweep folder or run folder")
    parser.add_argument("b", metavar="B", type=Path, help="the one compared with it")
    parser.add_argument("--on", metavar="COLS", help="comma-separated columns to pair runs on, e.g. cell,units,seed")
    parser.add_argument("--csv", metavar="OUT", type=Path, help="also write the comparison (every row) to this CSV")
    parser.add_argument("--html", metavar="OUT", type=Path,
                        help="also write the comparison as one self-contained page (no network), verdicts coloured")
    parser.add_argument("--fail-if-worse", metavar="X", type=non_negative,
                        help="exit 1 if a paired run's test accuracy dropped by more than X (e.g. 0.01), "
                             "or B failed where A had a result")
    args = parser.parse_args(argv)
    on = [column.strip() for column in args.on.split(",") if column.strip()] if args.on else None

    comparison = compare(load_results(args.a), load_results(args.b), on=on)
    stdout.print(_table(comparison, args.a, args.b))
    for side, path in (("a", args.a), ("b", args.b)):
        rows = comparison.only(side)
        if not rows.empty:
            listed = "; ".join(_describe(rows, comparison.keys))
            stdout.print(Text(f"Only in {side.upper()} ({path}, {len(rows)}): ", style="bold") + Text(listed))
    if args.csv:
        atomic.write_text(args.csv, comparison.table.to_csv(index=False))
        stdout.print(f"wrote {args.csv}")
    if args.html:
        write_comparison_page(comparison, args.a, args.b, args.html, shlex.join(["rnn-sweep", "compare", *argv]))
        stdout.print(f"wrote {args.html}")
    if args.fail_if_worse is not None:
        worse = comparison.worse(args.fail_if_worse)
        if not worse.empty:
            stdout.print(Text(f"{len(worse)} run(s) worse by more than {args.fail_if_worse:g} in test accuracy: ",
                              style="bold red") + Text("; ".join(_describe(worse, comparison.keys))))
            return 1
    return 0


def _table(comparison: Comparison, a: Path, b: Path) -> Table:
    """Keys that are the same in every paired row go to the caption, so the table fits a terminal."""
    matched = comparison.matched
    shown = [key for key in comparison.keys if matched[key].nunique() > 1] or comparison.keys[:1]
    same = " ".join(f"{key}={matched[key].iloc[0]}" for key in comparison.keys if key not in shown)
    caption = f"A: {a}\nB: {b}" + (f"\nevery row: {same}" if same else "")
    table = Table(title="rnn-sweep compare", caption=caption, box=box.SIMPLE_HEAD)
    for key in shown:
        table.add_column(key)
    for heading in ("acc A", "acc B", "Δ acc", "epoch s B/A", "samples/s B/A"):
        table.add_column(heading, justify="right")
    for _, row in matched.iterrows():
        delta = row[f"{ACCURACY}_delta"]
        style = "" if pd.isna(delta) or abs(delta) < 5e-5 else ("green" if delta > 0 else "red")
        table.add_row(
            *(str(row[key]) for key in shown),
            _accuracy(row, "a"), _accuracy(row, "b"),
            Text("-" if pd.isna(delta) else f"{delta:+.4f}", style=style),
            _ratio(row["epoch_seconds_ratio"]), _ratio(row["train_samples_per_second_ratio"]),
        )
    return table


def _accuracy(row: pd.Series, side: str) -> str:
    """The accuracy, or the status of a run that has none (failed, diverged)."""
    value = row[f"{ACCURACY}_{side}"]
    if not pd.isna(value):
        return f"{value:.4f}"
    status = row[f"status_{side}"]
    return str(status) if isinstance(status, str) else "-"


def _ratio(value: float) -> str:
    return "-" if pd.isna(value) or not math.isfinite(value) else f"{value:.2f}x"


def _describe(rows: pd.DataFrame, keys: list[str]) -> list[str]:
    return [" ".join(f"{key}={row[key]}" for key in keys) for _, row in rows.iterrows()]
