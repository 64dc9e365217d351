"""`rnn-sweep compare A B`: two sweeps (or runs, or results.csv files) side by side, each difference with how
sure we are of it, as a table and a CI gate. Piped or redirected (a CI log), the table is printed at its full width."""

from __future__ import annotations

import argparse
import errno
import math
import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf
from rich import box
from rich.table import Table
from rich.text import Text

from rnn_sweep import atomic, stopping
from rnn_sweep.commands.arguments import CommandParser, non_negative, probability, refuse_overwriting_inputs
from rnn_sweep.compare.gate import UNTESTED, gate_failures, is_untested
from rnn_sweep.compare.pairing import load_results
from rnn_sweep.compare.verdicts import ALPHA, Comparison, compare
from rnn_sweep.console import print_whole, stdout
from rnn_sweep.errors import UserError
from rnn_sweep.record.columns import (
    ACCURACY,
    MULTIRUN_FILE,
    RACE_CSV,
    RACE_FILE_COLUMNS,
    SETTING_COLUMNS,
    label,
    setting_text,
    show,
)
from rnn_sweep.report.html import write_comparison_page
from rnn_sweep.stats.intervals import accuracy_interval
from rnn_sweep.stats.sequential import WORSE

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
exit status: 0 compared; 1 --fail-if-worse found a setting of A worse, missing, unfinished, not ok or
untested in B; 2 bad arguments or files.
When B is a race against a baseline (hydra/sweeper=race hydra.sweeper.against=A), --fail-if-worse takes the race's
own verdicts: exit 1 if a setting ended `worse`.
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
                             "(e.g. 0.01); also for every setting of A that B lacks, that is unfinished in B or ended "
                             "not ok there, and for every pair no test could be made for (untested); for a race "
                             "against a baseline, if the race ended a setting `worse`")
    parser.add_argument("--allow-untested", action="store_true",
                        help="with --fail-if-worse: warn about untested pairs instead of failing on them")
    args = parser.parse_args(argv)
    for flag, output in (("--csv", args.csv), ("--html", args.html)):
        if output is not None:
            refuse_overwriting_inputs(flag, output, [args.a, args.b])
    on = [column.strip() for column in args.on.split(",") if column.strip()] if args.on else None
    for flag, out in (("--csv", args.csv), ("--html", args.html)):
        if out is not None:
            _check_writable(flag, out)

    stopping.note_written("`compare` stopped before it wrote any file.")
    comparison = compare(load_results(args.a), load_results(args.b, unfinished=True), on=on, alpha=args.alpha)
    print_whole(_table(comparison, args.a, args.b))
    for heading, note in comparison.notes:
        stdout.print(Text(f"{heading}: ", style="bold yellow") + Text(note))
    for side, path in (("a", args.a), ("b", args.b)):
        rows = comparison.only(side)
        if not rows.empty:
            listed = "; ".join(_describe(rows, comparison.keys))
            stdout.print(Text(f"Only in {side.upper()} ({path}, {len(rows)}): ", style="bold") + Text(listed))
    if args.csv:
        with _refused("--csv", args.csv):
            atomic.write_text(args.csv, comparison.csv_frame().to_csv(index=False))
        stdout.print(f"wrote {args.csv}")
        stopping.note_written(f"`compare` had written --csv {args.csv} (whole)"
                              + (f", not yet --html {args.html}." if args.html else "."))
    if args.html:
        with _refused("--html", args.html):
            write_comparison_page(comparison, args.a, args.b, args.html, shlex.join(["rnn-sweep", "compare", *argv]))
        stdout.print(f"wrote {args.html}")
    if args.fail_if_worse is not None and (raced := race_against_baseline(args.b)) is not None:
        return _race_gate(raced, args.b)
    return _gate(comparison, args.fail_if_worse, args.allow_untested)


def race_against_baseline(folder: Path) -> pd.DataFrame | None:
    """The last round of race.csv when `folder` is a race run against a baseline (hydra.sweeper.against), else None.

    Such a race has tested each setting against the baseline after every round with its error rate held over all of
    them; a fresh test of the same runs here would look once more and lose that guarantee, so the gate takes its
    verdicts instead."""
    try:
        against = OmegaConf.load(folder / MULTIRUN_FILE).hydra.sweeper.get("against")
        race = pd.read_csv(folder / RACE_CSV)
    except Exception:  # noqa: BLE001 - not a race folder (a results.csv, a run, a plain sweep): the usual gate
        return None
    if against is None or race.empty:
        return None
    return race[race["round"] == race["round"].max()]


def _race_gate(race: pd.DataFrame, folder: Path) -> int:
    worse = race[race["state"] == WORSE]
    settings = [column for column in race.columns if column not in RACE_FILE_COLUMNS]
    named = [" ".join(f"{key}={row[key]}" for key in settings) or "its setting" for _, row in worse.iterrows()]
    how = (f"the race {folder} against its baseline decides (its own verdicts, error rate held over every round; "
           "X is not used)")
    if worse.empty:
        stdout.print(f"--fail-if-worse: {how}: no setting is worse.")
        return 0
    stdout.print(Text(f"--fail-if-worse: {how}: {len(worse)} setting(s) worse: ", style="bold red")
                 + Text("; ".join(f"{name} ({row.mean:.4f}, n={row.n})"
                                  for name, row in zip(named, worse.itertuples(), strict=True))))
    return 1


def _check_writable(flag: str, out: Path) -> None:
    """Before anything is compared or written: OUT must be a file (new or old) in a folder that takes new files."""
    if out.is_dir():
        raise UserError(f"Cannot write {flag} {out}: it is a folder. Give a file name, e.g. {out / 'comparison'}"
                        f"{'.html' if flag == '--html' else '.csv'}.")
    existing = out.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        why = "a file" if not existing.is_dir() else os.strerror(errno.EROFS if _read_only(existing) else errno.EACCES)
        raise UserError(f"Cannot write {flag} {out}: {existing} is not a writable folder ({why}). Choose a file "
                        "in a folder you can write to.")


def _read_only(folder: Path) -> bool:
    return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)


@contextmanager
def _refused(flag: str, out: Path) -> Iterator[None]:
    """A write refused after the checks (a full disk, a place that changed): one paragraph; the file is untouched."""
    try:
        yield
    except OSError as error:
        raise UserError(f"Cannot write {flag} {out} ({error.strerror}): choose a file in a folder you can write "
                        "to.") from None


def _gate(comparison: Comparison, threshold: float | None, allow_untested: bool) -> int:
    if threshold is None:
        return 0
    failures = gate_failures(comparison, threshold)
    warned = [failure for failure in failures if allow_untested and failure.kind == UNTESTED]
    failed = [failure for failure in failures if failure not in warned]
    if warned:
        stdout.print(Text(f"--allow-untested: {len(warned)} pair(s) untested, not failed: ", style="bold yellow")
                     + Text("; ".join(f"{failure.where} ({failure.why})" for failure in warned)))
    if not failed:
        tested = "ok and tested" if not warned else "ok (the untested pairs above allowed)"
        stdout.print(f"--fail-if-worse {threshold:g}: every setting of A is finished, {tested} in B, none worse by "
                     f"more than {threshold:g} (alpha {comparison.alpha:g}, Holm-corrected).")
        return 0
    stdout.print(Text(f"--fail-if-worse {threshold:g} fails on {len(failed)} setting(s): ", style="bold red")
                 + Text("; ".join(f"{failure.where}: {failure.kind} ({failure.why})" for failure in failed)))
    return 1


def _table(comparison: Comparison, a: Path, b: Path) -> Table:
    """Keys that are the same in every paired row go to the caption, so the table fits a terminal. Headings and
    numbers as the column table (record/columns.py) labels and formats them."""
    matched = comparison.matched
    shown = [key for key in comparison.keys if matched[key].nunique() > 1] or comparison.keys[:1]
    same = " ".join(f"{key}={matched[key].iloc[0]}" for key in comparison.keys if key not in shown)
    tests = int(matched["p_value"].notna().sum())
    caption = (f"A: {a}\nB: {b}" + (f"\nevery row: {same}" if same else "")
               + f"\nverdict: Holm-corrected p <= {comparison.alpha:g} over {tests} test(s); {label(ACCURACY)}: mean "
               "[95% CI] where n >= 2; time: B/A median epoch (after the first) [95% bootstrap CI]")
    table = Table(title="rnn-sweep compare", caption=caption, box=box.SIMPLE_HEAD)
    for key in shown:
        table.add_column(label(key))
    for heading in (f"{label('n')} A/B", label(f"{ACCURACY}_a"), label(f"{ACCURACY}_b"),
                    f"{label('delta_accuracy')} [95% CI]", label("test"), f"{label('p_value')} ({label('p_holm')})",
                    label("verdict"), f"{label('time_ratio')} [95% CI]", label("time_verdict")):
        table.add_column(heading, justify="right")
    for _, row in matched.iterrows():
        table.add_row(*(show(key, row[key]) for key in shown), f"{row['n_a']}/{row['n_b']}", _accuracy(row, "a"),
                      _accuracy(row, "b"), _delta(row), _test(row), _p(row),
                      _verdict(UNTESTED if is_untested(row) else row["verdict"]),
                      _ratio(row), _verdict(row["time_verdict"]))
    return table


def _accuracy(row: pd.Series, side: str) -> str:
    """The mean accuracy (with its 95% interval for several runs), or the status of a side that has none (failed)."""
    value = row[f"{ACCURACY}_{side}"]
    if pd.isna(value):
        status = row[f"status_{side}"]
        return str(status) if isinstance(status, str) else "-"
    interval = accuracy_interval([run[ACCURACY] for run in row[f"runs_{side}"]])
    shown = show(ACCURACY, value)
    return shown if interval.n < 2 else f"{shown} [{show(ACCURACY, interval.low)}, {show(ACCURACY, interval.high)}]"


def _delta(row: pd.Series) -> Text:
    delta, low, high = row["delta_accuracy"], row["delta_ci_low"], row["delta_ci_high"]
    if pd.isna(delta):
        return Text("-")
    shown = show("delta_accuracy", delta) + ("" if pd.isna(low) else
                                             f" [{show('delta_ci_low', low)}, {show('delta_ci_high', high)}]")
    return Text(shown, style={"better": "green", "worse": "red"}.get(row["verdict"], ""))


def _test(row: pd.Series) -> str:
    if row["test"] == "mcnemar":
        return f"mcnemar b={int(row['mcnemar_b'])} c={int(row['mcnemar_c'])}"
    return row["test"] or "-"


def _p(row: pd.Series) -> str:
    return "-" if pd.isna(row["p_value"]) else f"{show('p_value', row['p_value'])} ({show('p_holm', row['p_holm'])})"


def _verdict(value: str) -> Text:
    style = {"better": "green", "faster": "green", "worse": "red", "slower": "red"}.get(value, "")
    return Text(value or "-", style=style)


def _ratio(row: pd.Series) -> str:
    ratio, low, high = row["time_ratio"], row["time_ratio_ci_low"], row["time_ratio_ci_high"]
    if pd.isna(ratio) or not math.isfinite(ratio):
        return "-"
    return show("time_ratio", ratio) + ("" if pd.isna(low) else
                                        f" [{show('time_ratio_ci_low', low)}, {show('time_ratio_ci_high', high)}]")


def _describe(rows: pd.DataFrame, keys: list[str]) -> list[str]:
    return [setting_text(row, keys) for _, row in rows.iterrows()]
