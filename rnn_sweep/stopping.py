"""SIGINT and SIGTERM as exceptions, so that every way a command is stopped runs the same clean-up.

Ctrl-C raises KeyboardInterrupt; SIGTERM (what schedulers and `timeout` send first) raises `Terminated`, a
KeyboardInterrupt too, so a run marks itself `interrupted` and the command writes its tables either way.
Imports nothing heavy: the CLI installs the handlers before Hydra or TensorFlow start loading.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

received: int | None = None  # the first stop signal this process got
_deferring = 0
_pending: int | None = None


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: handled like Ctrl-C, reported with its own name and exit status."""


def install() -> None:
    """Turn SIGINT and SIGTERM into exceptions in this process (the CLI, and every job process a launcher starts)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_signal)


def exit_code() -> int:
    """128 + the signal number, as a shell reports a command a signal stopped: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + (received or signal.SIGINT)


def signal_name() -> str:
    return signal.Signals(received or signal.SIGINT).name


def describe() -> str:
    """How the process was stopped, for the `error` of an interrupted record."""
    return "Ctrl-C / SIGINT" if (received or signal.SIGINT) == signal.SIGINT else "SIGTERM"


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a stop signal back while a record is written, then raise it: no half-finished write, no lost signal."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending is not None:
            signum, _pending = _pending, None
            raise _exception(signum)


def _on_signal(signum: int, frame: object) -> None:
    global received, _pending
    if received is not None:
        return  # already stopping: a repeated signal must not cut the clean-up short
    received = signum
    if _deferring:
        _pending = signum
        return
    raise _exception(signum)


def _exception(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()
