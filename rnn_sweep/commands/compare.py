"""`rnn-sweep compare A B`: two sweeps (or runs, or results.csv files) side by side, each difference with how
sure we are of it, as a table and a CI gate. Piped or redirected (a CI log), the table is printed at its full width."""

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
from rnn_sweep.commands.arguments import CommandParser, non_negative, probability
from rnn_sweep.console import print_whole, stdout
from rnn_sweep.errors import UserError
from rnn_sweep.results.columns import ACCURACY, SETTING_COLUMNS
from rnn_sweep.results.html import write_comparison_page
from rnn_sweep.results.pairing import load_results
from rnn_sweep.results.significance import ALPHA, Comparison, compare
from rnn_sweep.results.statistics import accuracy_interval

DESCRIPTION = f"""\
Put two sweeps side by side. A and B are results.csv files, sweep folders (their results.csv, else every
result.json below them) or run folders. Runs are paired on {', '.join(SETTING_COLUMNS)} and any other
command-line setting that varies inside A or inside B; the runs of a setting that differ only in their seed
are folded together (n), unless --on names seed.

For each pair: test accuracy in A and B, the change with its 95% CI and p-value, and a verdict (better, worse,
inconclusive) at --alpha, Holm-corrected over all rows. The test is Welch's t-test where both sides have two or
more runs, the exact McNemar test on the images each run got right where both sides have one run scored on the
same test images (b = right in A only, c = right in B only), and none otherwise (the delta is shown without a
verdict). Epoch time: the B/A ratio of the median epoch after the first, with a 95% bootstrap CI over epochs and
seeds, and a time verdict (faster, slower, inconclusive; Bonferroni over the rows)."""

EPILOG = """\
exit status: 0 compared; 1 --fail-if-worse found a pair that is worse; 2 bad arguments or files.
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
    parser.add_argument("--alpha", metavar="P", type=probability, default=ALPHA,
                        help=f"significance level of the verdicts, for all rows together (default {ALPHA})")
    parser.add_argument("--fail-if-worse", metavar="X", type=non_negative,
                        help="exit 1 if a pair's verdict is worse and its mean test accuracy dropped by more than X "
                             "(e.g. 0.01), or if more of B's runs failed than A's where A has a result")
    args = parser.parse_args(argv)
    on = [column.strip() for column in args.on.split(",") if column.strip()] if args.on else None

    comparison = compare(load_results(args.a), load_results(args.b), on=on, alpha=args.alpha)
    print_whole(_table(comparison, args.a, args.b))
    for heading, note in comparison.notes:
        stdout.print(Text(f"{heading}: ", style="bold yellow") + Text(note))
    for side, path in (("a", args.a), ("b", args.b)):
        rows = comparison.only(side)
        if not rows.empty:
            listed = "; ".join(_describe(rows, comparison.keys))
            stdout.print(Text(f"Only in {side.upper()} ({path}, {len(rows)}): ", style="bold") + Text(listed))
    if args.csv:
        try:
            atomic.write_text(args.csv, comparison.csv_frame().to_csv(index=False))
        except OSError as error:
            raise UserError(f"Cannot write --csv {args.csv} ({error.strerror}): choose a file in a folder you can "
                            "write to.") from None
        stdout.print(f"wrote {args.csv}")
    if args.html:
        write_comparison_page(comparison, args.a, args.b, args.html, shlex.join(["rnn-sweep", "compare", *argv]))
        stdout.print(f"wrote {args.html}")
    return _gate(comparison, args.fail_if_worse)


def _gate(comparison: Comparison, threshold: float | None) -> int:
    if threshold is None:
        return 0
    worse = comparison.worse(threshold)
    if worse.empty:
        stdout.print(f"--fail-if-worse {threshold:g}: no pair is worse by more than {threshold:g} with verdict worse "
                     f"(alpha {comparison.alpha:g}, Holm-corrected), and B lost no run A had.")
        return 0
    why = [f"{where} (Δ acc {row['delta_accuracy']:+.4f}, verdict {row['verdict'] or 'none'}, B: {row['status_b']})"
           for where, (_, row) in zip(_describe(worse, comparison.keys), worse.iterrows(), strict=True)]
    stdout.print(Text(f"{len(worse)} pair(s) worse by more than {threshold:g} in test accuracy with verdict worse, "
                      "or with more failed runs in B: ", style="bold red") + Text("; ".join(why)))
    return 1


def _table(comparison: Comparison, a: Path, b: Path) -> Table:
    """Keys that are the same in every paired row go to the caption, so the table fits a terminal."""
    matched = comparison.matched
    shown = [key for key in comparison.keys if matched[key].nunique() > 1] or comparison.keys[:1]
    same = " ".join(f"{key}={matched[key].iloc[0]}" for key in comparison.keys if key not in shown)
    tests = int(matched["p_value"].notna().sum())
    caption = (f"A: {a}\nB: {b}" + (f"\nevery row: {same}" if same else "")
               + f"\nverdict: Holm-corrected p <= {comparison.alpha:g} over {tests} test(s); acc: mean [95% CI] "
               "where n >= 2; time: B/A median epoch (after the first) [95% bootstrap CI]")
    table = Table(title="rnn-sweep compare", caption=caption, box=box.SIMPLE_HEAD)
    for key in shown:
        table.add_column(key)
    for heading in ("n A/B", "acc A", "acc B", "Δ acc [95% CI]", "test", "p (Holm)", "verdict", "epoch s B/A [95% CI]",
                    "time"):
        table.add_column(heading, justify="right")
    for _, row in matched.iterrows():
        table.add_row(*(str(row[key]) for key in shown), f"{row['n_a']}/{row['n_b']}", _accuracy(row, "a"),
                      _accuracy(row, "b"), _delta(row), _test(row), _p(row), _verdict(row["verdict"]),
                      _ratio(row), _verdict(row["time_verdict"]))
    return table


def _accuracy(row: pd.Series, side: str) -> str:
    """The mean accuracy (± half-width for several runs), or the status of a side that has none (failed)."""
    value = row[f"{ACCURACY}_{side}"]
    if pd.isna(value):
        status = row[f"status_{side}"]
        return str(status) if isinstance(status, str) else "-"
    runs = row[f"runs_{side}"]
    interval = accuracy_interval([run[ACCURACY] for run in runs])
    return f"{value:.4f}" if interval.n < 2 else f"{value:.4f} [{interval.low:.4f}, {interval.high:.4f}]"


def _delta(row: pd.Series) -> Text:
    delta, low, high = row["delta_accuracy"], row["delta_ci_low"], row["delta_ci_high"]
    if pd.isna(delta):
        return Text("-")
    shown = f"{delta:+.4f}" + ("" if pd.isna(low) else f" [{low:+.4f}, {high:+.4f}]")
    return Text(shown, style={"better": "green", "worse": "red"}.get(row["verdict"], ""))


def _test(row: pd.Series) -> str:
    if row["test"] == "mcnemar":
        return f"mcnemar b={int(row['mcnemar_b'])} c={int(row['mcnemar_c'])}"
    return row["test"] or "-"


def _p(row: pd.Series) -> str:
    return "-" if pd.isna(row["p_value"]) else f"{row['p_value']:.3g} ({row['p_holm']:.3g})"


def _verdict(value: str) -> Text:
    style = {"better": "green", "faster": "green", "worse": "red", "slower": "red"}.get(value, "")
    return Text(value or "-", style=style)


def _ratio(row: pd.Series) -> str:
    ratio, low, high = row["time_ratio"], row["time_ratio_ci_low"], row["time_ratio_ci_high"]
    if pd.isna(ratio) or not math.isfinite(ratio):
        return "-"
    return f"{ratio:.2f}x" + ("" if pd.isna(low) else f" [{low:.2f}, {high:.2f}]")


def _describe(rows: pd.DataFrame, keys: list[str]) -> list[str]:
    return [" ".join(f"{key}={row[key]}" for key in keys) for _, row in rows.iterrows()]
