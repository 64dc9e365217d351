"""`rnn-sweep reproduce RUN_DIR [overrides]`: train a run again into a new folder and say whether it matches."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

from rich.table import Table
from rich.text import Text

from rnn_sweep import stopping
from rnn_sweep.commands.arguments import CommandParser, non_negative
from rnn_sweep.compare.reproduction import (
    DEFAULT_TOLERANCE,
    SAVED_CONFIG,
    SHOWN,
    judge,
    new_run_dir_name,
    original_record,
)
from rnn_sweep.console import print_error, stdout
from rnn_sweep.errors import UserError
from rnn_sweep.launch.preflight import preflight
from rnn_sweep.record.result_files import read_result
from rnn_sweep.sweep.folders import claim_new_folder, override_value

DESCRIPTION = f"""\
Train RUN_DIR's saved config (.hydra/config.yaml, plus any OVERRIDES) again into a new run folder
(outputs/runs/<stamp>, or --out), never into RUN_DIR, then print the original and the new metrics side by side.

A run trained with train.deterministic=true on a CPU, reproduced on a CPU, must give the identical test
accuracy and test loss: any difference exits 1. Otherwise (GPU kernels, train.deterministic=false) the
test accuracy may change by up to --tolerance and the test loss by up to --tolerance times its value
(default {DEFAULT_TOLERANCE:g}; giving --tolerance also replaces the exact check)."""

EPILOG = """\
exit status: 0 the metrics match; 1 they differ by more than allowed, or the new run failed; 2 bad arguments.
example: rnn-sweep reproduce outputs/sweeps/2026-01-01_10-00-00/3 train.device=cpu"""


def main(argv: list[str]) -> int:
    parser = CommandParser(prog="rnn-sweep reproduce", description=DESCRIPTION, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run folder (with .hydra/config.yaml)")
    parser.add_argument("overrides", metavar="OVERRIDES", nargs="*", default=[],
                        help="key=value changes, e.g. train.device=cpu")
    parser.add_argument("--out", type=Path, help="the new run folder (must not exist; default outputs/runs/<stamp>)")
    parser.add_argument("--tolerance", type=non_negative, metavar="T",
                        help=f"accepted change, as a fraction (default 0 where exactness is promised, "
                             f"else {DEFAULT_TOLERANCE:g})")
    args = parser.parse_args(argv)
    run_dir = args.run_dir.resolve()
    original = original_record(run_dir)
    new_dir = args.out.resolve() if args.out else new_run_dir_name()
    if args.out and new_dir.exists():
        raise UserError(f"{new_dir} already exists; reproduce always trains into a new folder. Choose another --out.")
    config = ["--config-path", str(run_dir / SAVED_CONFIG.parent), "--config-name", "config", *args.overrides]
    preflight([*config, f"hydra.run.dir={override_value(new_dir)}"])  # bad overrides or saved config: refused here
    new_dir = _claim(new_dir, run_dir, exact=bool(args.out))
    train_argv = [*config, f"hydra.run.dir={override_value(new_dir)}"]

    stdout.print(f"reproducing {run_dir} into {new_dir}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    stopping.note_written(f"`reproduce` stopped before training; {new_dir} is claimed and empty.")
    training = subprocess.Popen([sys.executable, "-m", "rnn_sweep", *train_argv], env=env)
    try:
        training.wait()
    except KeyboardInterrupt:
        _stop(training, new_dir)
        raise
    again = read_result(new_dir)
    if again is None:
        print_error(f"the new run in {new_dir} left no result.json; its output above says why.")
        return 1
    verdict = judge(run_dir, new_dir, original, again, args.tolerance)
    stdout.print(_table(original, again, run_dir, new_dir))
    rule = f"within {verdict.tolerance:g}" if verdict.tolerance else "identical"
    if verdict.exact_expected and not verdict.tolerance:
        rule += " (train.deterministic=true on a CPU)"
    if verdict.problems:
        stdout.print(Text(f"NOT reproduced ({rule} was required): " + "; ".join(verdict.problems), style="bold red"))
        return 1
    stdout.print(Text(f"reproduced: test accuracy and test loss {rule}", style="bold green"))
    return 0


def _stop(training: subprocess.Popen, new_dir: Path) -> None:
    """Pass the stop on to the training (a signal sent to this process alone), let it save its record, say what
    the new folder holds; an empty one is removed."""
    with suppress(OSError):
        training.send_signal(stopping.received or signal.SIGINT)  # ignored if it got the same signal already
    training.wait()
    record = read_result(new_dir)
    if record is not None:
        held = (f"{new_dir} holds the new run's record (status {record['status']}, "
                f"{record.get('epochs_completed') or 0} epoch(s) finished); nothing was compared.")
    elif new_dir.is_dir() and any(new_dir.iterdir()):
        held = f"{new_dir} holds the new run's files so far but no result.json; nothing was compared."
    else:
        with suppress(OSError):
            new_dir.rmdir()
        held = f"the new run had not started; its empty folder {new_dir} was removed."
    stopping.note_written(f"`reproduce` stopped: {held}")


def _claim(new_dir: Path, run_dir: Path, exact: bool) -> Path:
    """Create the new run folder now, so no other run can take it: --out as given, else the stamp's first free one."""
    if not exact:
        return claim_new_folder(new_dir, avoid=run_dir)
    try:
        new_dir.mkdir(parents=True)
    except FileExistsError:
        raise UserError(f"{new_dir} already exists; reproduce always trains into a new folder. "
                        "Choose another --out.") from None
    return new_dir


def _table(original: dict, again: dict, run_dir: Path, new_dir: Path) -> Table:
    caption = (f"original: {run_dir} ({original.get('device')})\n"
               f"reproduced: {new_dir} ({again.get('device')})")
    table = Table(title="rnn-sweep reproduce", caption=caption, caption_justify="left")
    for heading, justify in (("metric", "left"), ("original", "right"), ("reproduced", "right"),
                             ("difference", "right")):
        table.add_column(heading, justify=justify)
    for metric in SHOWN:
        before, after = original.get(metric), again.get(metric)
        if before is None or after is None:
            table.add_row(metric, _number(before), _number(after), "-")
            continue
        difference = after - before
        shown = "0 (identical)" if difference == 0 else f"{difference:+.3g}"
        table.add_row(metric, _number(before), _number(after), shown)
    return table


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
