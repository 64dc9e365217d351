"""An argparse parser whose usage errors read like every other rnn-sweep error: one paragraph, exit 2."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from rnn_sweep.errors import UserError
from rnn_sweep.record.columns import HYDRA_DIR, RESULT_FILE, RESULTS_CSV


class CommandParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split()).removeprefix("usage: ")
        raise UserError(f"{message[:1].upper()}{message[1:]}. Usage: {usage} ([...] is optional). "
                        f"`{self.prog} --help` shows every argument.")


def non_negative(text: str) -> float:
    """An argparse type: a float >= 0, or a message naming the bad value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give a number >= 0")
    return value


def probability(text: str) -> float:
    """An argparse type: a float strictly between 0 and 1 (a significance level), or a message naming the bad value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1; give a level such as 0.05")
    return value


def refuse_overwriting_inputs(flag: str, output: Path, inputs: list[Path]) -> None:
    """UserError when `output` is one of the files `inputs` name, or lies inside a run folder they read (a run
    folder given, or a job folder of a sweep given as its folder or its results.csv): a command never writes over
    what it reads."""
    out = output.resolve()
    for given in inputs:
        where = given.resolve()
        sweep = where if where.is_dir() else where.parent
        run_folders = {sweep} if (sweep / RESULT_FILE).is_file() else {
            path.parent for pattern in (RESULT_FILE, HYDRA_DIR) for path in sweep.glob(f"**/{pattern}")}
        inside = next((folder for folder in sorted(run_folders) if out.is_relative_to(folder)), None)
        read = {where, where / RESULTS_CSV} if where.is_dir() else {where}
        if out in read or inside is not None:
            what = f"the input {out}" if out in read else f"inside the run folder {inside}, which it reads"
            raise UserError(
                f"{flag} {output} is {what}: writing there would replace what the comparison is made of. Choose a "
                "path outside the run folders, e.g. a file beside the sweep folders (comparison.csv)."
            )
