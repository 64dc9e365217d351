"""Stop signals as exceptions, so that every way a command is stopped runs the same clean-up.

Ctrl-C raises KeyboardInterrupt; SIGTERM (what schedulers and `timeout` send first), SIGHUP (a closed terminal or
ssh session), SIGQUIT (Ctrl-\\) and SIGUSR1/SIGUSR2 (a scheduler's warning, e.g. SLURM's --signal) raise `Terminated`,
a KeyboardInterrupt too, so a run marks itself `interrupted` and the command writes its tables either way. A job
that submitit runs under SLURM never installs these: there SLURM and submitit own SIGTERM and SIGUSR2, and
submitit's handler of its warning signal is only held back, as ours are, while TensorFlow runs (hold_back_warnings).
A stop raised where Python cannot raise it (a finalizer) is delivered again, so no moment loses it.
Imports nothing heavy: the CLI installs the handlers before Hydra or TensorFlow start loading.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
                     if hasattr(signal, name))  # Windows has only the first two

_SCHEDULER_SIGNALS = {getattr(signal, name, None) for name in ("SIGUSR1", "SIGUSR2")}
_REDELIVERY_SECONDS = 0.1  # after a stop was swallowed: time enough for Python to leave the code that swallowed it
received: int | None = None  # the first stop signal this process got
_deferring = 0
_pending: Callable[[], None] | None = None  # a stop held back by deferred(): called, it raises
_unraisable_before = sys.unraisablehook  # the hook install() chains to, for every other unraisable exception
# What the running subcommand has written so far, in words, for the line a stop ends with (None: not a subcommand).
written: str | None = None


class Terminated(KeyboardInterrupt):
    """A stop signal other than SIGINT arrived: handled like Ctrl-C, reported with its own name and exit status."""


def install() -> None:
    """Turn the stop signals into exceptions in this process (the CLI, and every job process a launcher starts)."""
    global _unraisable_before
    submitit_job = "SUBMITIT_EXECUTOR" in os.environ  # submitit's job handlers own USR1/USR2 (checkpoint, requeue)
    for signum in STOP_SIGNALS:
        if not (submitit_job and signum in _SCHEDULER_SIGNALS):
            signal.signal(signum, _on_signal)
    if submitit_job:
        hold_back_warnings()
    if sys.unraisablehook is not _on_unraisable:
        _unraisable_before, sys.unraisablehook = sys.unraisablehook, _on_unraisable


def exit_code() -> int:
    """128 + the signal number, as a shell reports a command a signal stopped: 130 for SIGINT, 129 for SIGHUP..."""
    return 128 + (received or signal.SIGINT)


def signal_name() -> str:
    return signal.Signals(received or signal.SIGINT).name


def describe() -> str:
    """How the process was stopped, for the `error` of an interrupted record."""
    return "Ctrl-C / SIGINT" if (received or signal.SIGINT) == signal.SIGINT else signal_name()


def note_written(what: str) -> None:
    """Say what the subcommand has written so far: the line a stop ends with repeats it."""
    global written
    written = what


def hold_back_warnings() -> None:
    """Make the handlers a scheduler's job already has for its warning signals (submitit's for SIGUSR1/SIGUSR2: it
    raises, so that the job's row says its time limit is near) wait as our stops do: run at once, or, inside
    deferred(), where a stop is let through (a fit's step end). Raised inside TensorFlow, their error could come out
    as another one (SystemError from a C function TensorFlow was in) or crash the job."""
    for signum in _SCHEDULER_SIGNALS - {None}:
        handler = signal.getsignal(signum)
        if callable(handler) and handler is not _on_signal and not getattr(handler, "held_back", False):
            signal.signal(signum, _held_back(handler))


def _held_back(handler: Callable[[int, FrameType | None], object]) -> Callable[[int, FrameType | None], None]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        global _pending
        if not _deferring:
            handler(signum, frame)
        elif _pending is None:
            _pending = functools.partial(handler, signum, None)

    on_signal.held_back = True  # type: ignore[attr-defined]
    return on_signal


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a stop signal back while a record is written, then raise it: no half-finished write, no lost signal."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring:
            raise_pending()


def raise_pending() -> None:
    """Raise a stop that deferred() is holding back, now: the caller is at a point where its work may be cut."""
    global _pending
    if _pending is not None:
        stop, _pending = _pending, None
        stop()


def _raise(signum: int) -> None:
    raise _exception(signum)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global received, _pending
    if received is not None:
        return  # already stopping: a repeated signal must not cut the clean-up short
    received = signum
    if _deferring:
        _pending = functools.partial(_raise, signum)
        return
    if _in_unraisable_hook(frame):  # raised there, it would be swallowed too
        _deliver_again()
        return
    raise _exception(signum)


def _on_unraisable(unraisable: object) -> None:
    """Python drops an exception it cannot raise where it came up (in a finalizer, or a generator closed as it is
    freed): a stop raised there would be lost, and every later signal with it (they are ignored once one came).
    Such a stop is delivered again, a moment later, where the work goes on."""
    if received is not None and isinstance(getattr(unraisable, "exc_value", None), KeyboardInterrupt):
        _deliver_again()
        return
    _unraisable_before(unraisable)


def _in_unraisable_hook(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code is _on_unraisable.__code__:
            return True
        frame = frame.f_back
    return False


def _deliver_again() -> None:
    """The stop once more, from another thread after a moment: the main thread raises it where it then runs."""
    signum = received

    def deliver() -> None:
        global received
        received = None
        os.kill(os.getpid(), signum)

    timer = threading.Timer(_REDELIVERY_SECONDS, deliver)
    timer.daemon = True
    timer.start()


def _exception(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()
