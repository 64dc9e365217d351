"""An argparse parser whose usage errors read like every other rnn-sweep error: one paragraph, exit 2."""

from __future__ import annotations

import argparse
from typing import NoReturn

from rnn_sweep.errors import UserError


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
