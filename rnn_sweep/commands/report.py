"""`rnn-sweep report DIR`: rebuild a sweep's tables, plots and page from its run folders, or show one run's record.

Only reads what is on disk, and never imports TensorFlow, so it is quick and works on any copy of the
outputs (e.g. a sweep folder fetched from a cluster).
"""

from __future__ import annotations

from pathlib import Path

from rnn_sweep import stopping
from rnn_sweep.commands.arguments import CommandParser
from rnn_sweep.console import print_error, stdout
from rnn_sweep.errors import UserError
from rnn_sweep.record.columns import HISTORY_FILE, HYDRA_DIR, REPORT_HTML, RESULT_FILE
from rnn_sweep.record.result_files import read_result
from rnn_sweep.report.frontier import DEFAULT_MARGIN
from rnn_sweep.report.plots import write_run_plot
from rnn_sweep.report.run_console import print_run_summary
from rnn_sweep.report.sweep_report import unwritable_sweep, write_sweep_report
from rnn_sweep.report.tables import print_sweep_tables


def main(argv: list[str]) -> int:
    parser = CommandParser(
        prog="rnn-sweep report",
        description="Rebuild results.csv, accuracy.csv and timing.csv of a sweep folder from its jobs' "
        "result.json files, draw the plots, write report.html and print the tables; for a single run folder, print "
        "its record and draw its learning curve.",
        epilog="exit status: 0 written; 1 written, but a result.json in the sweep is damaged (named); "
        "2 bad arguments, or the folder cannot be read or written.",
    )
    parser.add_argument("folder", metavar="DIR", type=Path,
                        help="a sweep folder (outputs/sweeps/STAMP) or a run folder")
    parser.add_argument("--html", action="store_true",
                        help=f"rebuild the sweep's {REPORT_HTML} (a self-contained page) and print where it is, "
                             "instead of the tables")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help="the test-accuracy difference that does not matter, for the recommendation: the fastest "
                             f"setting shown as accurate as the best within it (default {DEFAULT_MARGIN})")
    args = parser.parse_args(argv)
    if not 0 < args.margin < 1:
        raise UserError(f"--margin {args.margin:g} is not a test-accuracy difference: give a number above 0 and "
                        f"below 1 (default {DEFAULT_MARGIN}, a fifth of a percentage point).")
    folder = args.folder
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UserError(f"{folder} {what}. Give a sweep folder (outputs/sweeps/STAMP) or a run folder "
                        "(outputs/runs/STAMP); `rnn-sweep compare` is the command that reads results.csv files.")
    record = read_result(folder)
    if record is not None and args.html:
        raise UserError(f"{folder} is a run folder; {REPORT_HTML} is the page of a sweep folder. Give the sweep folder "
                        "(outputs/sweeps/STAMP), or leave out --html to print this run's record.")
    if record is not None:
        stopping.note_written(f"`report` stopped before it wrote anything into {folder}.")
        print_run_summary(record)
        if (folder / HISTORY_FILE).is_file():
            stdout.print(f"learning curve: {write_run_plot(folder)}")
        return 0
    if (folder / HYDRA_DIR).is_dir():
        raise UserError(f"{folder} is a run folder without {RESULT_FILE}: its run is still going, or was killed before "
                        "it could write one (a run that fails or is interrupted with Ctrl-C writes one). Run it again.")
    if not any(folder.rglob(RESULT_FILE)):
        raise UserError(f"No {RESULT_FILE} found in {folder} or below it: it is not a run or sweep folder of "
                        "rnn-sweep, or none of its jobs has finished yet.")
    # A sweep still running, or killed, gets a partial table: the jobs without a result are listed below it.
    stopping.note_written(f"`report` stopped before it wrote anything into {folder}.")
    try:
        # A stop now waits until every table, plot and the page are rewritten: never new tables beside an old page.
        with stopping.deferred():
            tables = write_sweep_report(folder.resolve(), args.margin)
            stopping.note_written(f"`report` had rewritten the tables, plots and {REPORT_HTML} of {folder} whole "
                                  "before it stopped.")
    except OSError as error:  # each file is replaced whole or not at all: a refused one leaves the old one
        raise unwritable_sweep(folder, error) from None
    if args.html:
        stdout.print(f"wrote {tables.folder / REPORT_HTML} ({len(tables.results)} jobs, {len(tables.missing())} "
                     "without a result)")
    else:
        print_sweep_tables(tables, stdout)
    for error in tables.unreadable:
        print_error(str(error))
    return 1 if tables.unreadable else 0
