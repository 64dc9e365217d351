"""`rnn-sweep report DIR`: rebuild a sweep's tables from its run folders, or show one run's record.

Only reads what is on disk, and never imports TensorFlow, so it is quick and works on any copy of the
outputs (e.g. a sweep folder fetched from a cluster).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnn_sweep.console import print_run_summary, stdout
from rnn_sweep.errors import UserError
from rnn_sweep.results.columns import HISTORY_FILE, HYDRA_DIR, RESULT_FILE
from rnn_sweep.results.plots import write_run_plot
from rnn_sweep.results.record import read_result
from rnn_sweep.results.tables import print_sweep_tables, write_sweep_tables


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rnn-sweep report",
        description="Rebuild results.csv, accuracy.csv and timing.csv of a sweep folder from its jobs' "
        "result.json files, draw the plots and print the tables; for a single run folder, print its record and "
        "draw its learning curve.",
    )
    parser.add_argument("folder", type=Path, help="a sweep folder (outputs/sweeps/STAMP) or a run folder")
    folder = parser.parse_args(argv).folder
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UserError(f"{folder} {what}. Give a sweep folder (outputs/sweeps/STAMP) or a run folder "
                        "(outputs/runs/STAMP); `rnn-sweep compare` is the command that reads results.csv files.")
    record = read_result(folder)
    if record is not None:
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
    print_sweep_tables(write_sweep_tables(folder.resolve()), stdout)
    return 0
