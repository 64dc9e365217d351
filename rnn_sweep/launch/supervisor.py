"""Training in a child process, watched by the command's own: a crash of the trainer still ends like a failure.

TensorFlow can end a process outright where Python cannot catch it: under an address-space limit (`ulimit -v`) it
aborts (SIGABRT) or segfaults (SIGSEGV) while training, and the kernel's out-of-memory killer sends SIGKILL. A sweep
run in that process would die with it, leaving no record, no tables and no message. So the command forks before
anything heavy is loaded: the child trains exactly as the command did before, and the parent, which loads nothing,
waits. It passes every stop signal on to the child, exits as the child does, and when the child was killed by a
signal of its own, writes the `failed` record of each job the child was training and returns the signal.

Linux only: the child is made to die with the parent (PR_SET_PDEATHSIG), so SIGKILL of the command never leaves a
trainer behind; elsewhere (no fork on Windows, no such call on macOS) the command trains in its own process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import NamedTuple

from rnn_sweep import stopping

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Ctrl-Z: the child, in a process group of its own, does not get the terminal's; it stops and goes on with the parent.
_JOB_CONTROL = (signal.SIGTSTP, signal.SIGCONT) if hasattr(signal, "SIGTSTP") else ()
# What each signal that kills a trainer usually means, for its record and the command's last line.
_MEANINGS = {
    "SIGABRT": "as TensorFlow does when it cannot get memory (an address-space limit, ulimit -v, or a scheduler's "
               "memory limit too small for training)",
    "SIGSEGV": "a crash inside TensorFlow or another native library, most often for want of memory under an "
               "address-space limit (ulimit -v)",
    "SIGBUS": "memory that could not be backed (a full /dev/shm, or a full disk under a mapped file)",
    "SIGKILL": "by something outside it, most often the kernel's out-of-memory killer or a scheduler's memory limit",
    "SIGILL": "an instruction this CPU lacks (a TensorFlow built for a newer CPU)",
    "SIGFPE": "an arithmetic fault in native code",
}


class Ended(NamedTuple):
    """How the training child ended: the command's exit status, or the signal that killed it unasked (a crash)."""

    code: int
    crash: int | None = None


def available() -> bool:
    """Whether this system can fork a trainer that dies with its parent (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def train_in_child() -> Ended | None:
    """Fork: None in the child, which goes on to train; in the parent, once the child has ended, how it ended.

    The stop signals are blocked across the fork, so none arrives before the parent passes them on: one sent to the
    command (or to its process group, as a terminal's Ctrl-C is) reaches the child exactly once."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # else both processes would write what is still buffered
    parent = os.getpid()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, (*stopping.STOP_SIGNALS, *_JOB_CONTROL))
    child = os.fork()
    if child == 0:
        _become_trainer(parent)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return None
    with suppress(OSError):
        os.setpgid(child, child)  # as the child does: whichever runs first
    forwarded: set[int] = set()

    def forward(signum: int, frame: FrameType | None) -> None:
        forwarded.add(signum)
        os.kill(child, signum)

    for signum in stopping.STOP_SIGNALS:
        signal.signal(signum, forward)
    if _JOB_CONTROL:
        signal.signal(signal.SIGTSTP, _stop_both(child))
        signal.signal(signal.SIGCONT, lambda signum, frame: os.kill(child, signal.SIGCONT))
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)  # ended, not reaped: its pid cannot name another process
    for signum in _JOB_CONTROL:
        signal.signal(signum, signal.SIG_DFL)
    for signum in stopping.STOP_SIGNALS:  # the command is done, or writes what a crash left: a stop would cut it short
        signal.signal(signum, signal.SIG_IGN)
    _, status = os.waitpid(child, 0)
    if not os.WIFSIGNALED(status):
        return Ended(os.WEXITSTATUS(status))
    signum = os.WTERMSIG(status)
    return Ended(128 + signum) if signum in forwarded else Ended(1, signum)


def _become_trainer(parent: int) -> None:
    """In the child: a process group of its own (a terminal's signals reach it only through the parent), and death
    with the parent (SIGKILL of the command must end the training too, so its job folder can be resumed)."""
    with suppress(OSError):
        os.setpgid(0, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the call: nobody is left to wait for this one
        os._exit(128 + signal.SIGKILL)


def _stop_both(child: int) -> Callable[[int, FrameType | None], None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        os.kill(child, signal.SIGSTOP)
        os.kill(os.getpid(), signal.SIGSTOP)

    return stop


def crash_reason(signum: int) -> str:
    """What a record and the command's last line say of a trainer killed by `signum`."""
    name = signal.Signals(signum).name
    return f"crashed: the training process was killed by {name}, {_MEANINGS.get(name, 'a signal it did not expect')}"


def record_crash(folder: Path, reason: str) -> list[Path]:
    """Give a `failed` record saying `reason` to each job folder at or below `folder` that this command claimed
    and that got no record of its own since (one older than the claim is an earlier command's); the folders."""
    from rnn_sweep.record.result_files import write_last_result
    from rnn_sweep.sweep.claims import is_held, is_ours
    from rnn_sweep.sweep.stopped import job_folders, record_for_job

    recorded = []
    for job in job_folders(folder):
        if is_ours(job) and not is_held(job) and not _has_own_record(job) \
                and write_last_result(job, record_for_job(job, "failed", reason)) is None:  # held: a worker trains it
            recorded.append(job)
    return recorded


def _has_own_record(job: Path) -> bool:
    """Whether the job wrote its record after this command claimed it, or holds an `ok` one (a job skipped as done);
    one that cannot be read is left as it is."""
    from rnn_sweep.record.columns import RESULT_FILE
    from rnn_sweep.record.result_files import ResultFileError, read_result
    from rnn_sweep.sweep.claims import CLAIM_FILE

    try:
        if (job / RESULT_FILE).stat().st_mtime_ns >= (job / CLAIM_FILE).stat().st_mtime_ns:
            return True
        return (read_result(job) or {}).get("status") == "ok"
    except FileNotFoundError:
        return False
    except (OSError, ResultFileError):
        return True
