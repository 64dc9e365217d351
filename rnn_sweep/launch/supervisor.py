"""Training in a child process, watched by the command's own: a crash of the trainer still ends like a failure.

TensorFlow can end a process outright where Python cannot catch it: under an address-space limit (`ulimit -v`) it
aborts (SIGABRT) or segfaults (SIGSEGV) while training, and the kernel's out-of-memory killer sends SIGKILL. A sweep
run in that process would die with it, leaving no record, no tables and no message. So the command forks before
anything heavy is loaded: the child trains exactly as the command did before, and the parent, which loads nothing,
waits. It passes every stop signal on to the child, exits as the child does, and when the child ended before its
command did, writes the `failed` record of each job the child left without one, and the sweep's tables: when a signal
of its own killed it, when it handed over an error nothing else handled (a MemoryError, raised anywhere in Hydra or
between jobs once TensorFlow took most of the room: the parent, which never loaded it, still has room), or when it
exited non-zero without saying that it had printed its own last line (glibc's loader exits 127 when it cannot
allocate a library's thread-local data; a child out of memory may not manage to hand its error over).

Linux only: the child is made to die with the parent (PR_SET_PDEATHSIG), so SIGKILL of the command never leaves a
trainer behind; elsewhere (no fork on Windows, no such call on macOS) the command trains in its own process.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import NamedTuple

from rnn_sweep import stopping
from rnn_sweep.launch.address_space import lack_of_memory, limit_kb

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


# In the training child: the write end of the pipe through which it hands the parent an error it cannot handle.
_hand_over_to: int | None = None
_MOST_SAID = 2000  # bytes of what the child says: far less than a pipe holds, so its write never blocks
_MOST_SHOWN = 300  # characters of an error's own words in a record and the command's line
# What the child says last when it ends as a command does, having printed its own last line: any other end that is
# not 0 (an exit from deep inside Python or a library, a hand-over that found no room to say more) the parent tells.
_FINISHED = "\0"
# Made before it is needed: a child out of memory may not be able to make another string.
_NO_MEMORY = ("out of memory: the training process could not go on (MemoryError), as happens under an address-space "
              "limit (ulimit -v) or a scheduler's memory limit too small for training")


class Ended(NamedTuple):
    """How the training child ended: the command's exit status, and why the child ended before its command did
    (None when it finished)."""

    code: int
    why: str | None = None


def available() -> bool:
    """Whether this system can fork a trainer that dies with its parent (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class Orders(NamedTuple):
    """What the command tells its training child once it has checked itself: the command line to train (its final
    overrides, folders claimed), the run folder it claimed for a single run (None for a sweep), the work the check
    expects of each job of a grid (rnn_sweep.sweep.longest_first.notes), and how many worker processes its launcher
    starts beside it (jobs side by side: rnn_sweep.sweep.joblib_launcher)."""

    argv: list[str]
    run_dir: str | None
    work: list[tuple[tuple[str, ...], float]]
    workers: int


def fork_trainer(warm_up: Callable[[], None] | None = None,
                 on_orders: Callable[[Orders], None] | None = None) -> Trainer | Orders:
    """Fork the training child. In the command's process: the Trainer to give its orders to (or to dismiss). In the
    child: the orders, once `warm_up` has run (loading what training needs while the command still checks itself,
    on another core) and they came; a child dismissed instead ends there, silently. `on_orders` runs in the child
    as they come, in a thread beside the warm-up (starting other processes, which need not wait for it).

    The stop signals are blocked across the fork and until the command passes them on (Trainer.train), so one sent
    to the command (or to its process group, as a terminal's Ctrl-C is) reaches the child exactly once; before its
    orders the child holds any back (a stop then ends the command, whose end ends the child)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # else both processes would write what is still buffered
    parent = os.getpid()
    said, hand_over_to = os.pipe()
    told, orders = os.pipe()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, (*stopping.STOP_SIGNALS, *_JOB_CONTROL))
    child = os.fork()
    if child == 0:
        os.close(said)
        os.close(orders)
        _become_trainer(parent, hand_over_to)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        arrived: list[Orders | None] = []
        listener = threading.Thread(target=_listen, args=(told, arrived, on_orders), name="orders", daemon=True)
        with stopping.deferred():
            listener.start()
            _warm(warm_up)
            listener.join()
        if arrived[0] is None:
            os._exit(0)  # dismissed: the command trains nowhere, or in other processes
        return arrived[0]
    os.close(hand_over_to)
    os.close(told)
    with suppress(OSError):
        os.setpgid(child, child)  # as the child does: whichever runs first
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return Trainer(child, said, orders)


def _warm(warm_up: Callable[[], None] | None) -> None:
    """Run `warm_up`; whatever it fails on, the job meets again where it is recorded (a broken TensorFlow install)."""
    if warm_up is not None:
        with suppress(Exception):
            warm_up()


def _listen(told: int, arrived: list[Orders | None], on_orders: Callable[[Orders], None] | None) -> None:
    given = _read_all(told, wait=True)
    orders = Orders(*json.loads(given)) if given else None
    arrived.append(orders)
    if orders is not None and on_orders is not None:
        with suppress(Exception):  # what it started is started again where it is needed, and fails there if it must
            on_orders(orders)


class Trainer:
    """The command's side of its training child (fork_trainer)."""

    def __init__(self, pid: int, said: int, orders: int) -> None:
        self.pid, self._said, self._orders = pid, said, orders

    def dismiss(self) -> None:
        """End the child before it trained anything (the command found nothing to train there): at once, whatever
        it was loading."""
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self._said)
        os.close(self._orders)

    def train(self, orders: Orders) -> Ended:
        """Give the child its orders, pass it every stop signal, and once it has ended, say how."""
        child = self.pid
        forwarded: set[int] = set()

        def forward(signum: int, frame: FrameType | None) -> None:
            forwarded.add(signum)
            os.kill(child, signum)

        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, (*stopping.STOP_SIGNALS, *_JOB_CONTROL))
        given = memoryview(json.dumps(list(orders)).encode())
        with suppress(BrokenPipeError):  # a child that has died already: its end is told below
            while given:  # more than a pipe holds waits for the child to read, once warmed up
                given = given[os.write(self._orders, given):]
        os.close(self._orders)
        for signum in stopping.STOP_SIGNALS:
            signal.signal(signum, forward)
        if _JOB_CONTROL:
            signal.signal(signal.SIGTSTP, _stop_both(child))
            signal.signal(signal.SIGCONT, lambda signum, frame: os.kill(child, signal.SIGCONT))
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)  # ended, not reaped: its pid cannot name another process
        for signum in _JOB_CONTROL:
            signal.signal(signum, signal.SIG_DFL)
        for signum in stopping.STOP_SIGNALS:  # the command is done, or writes what a crash left: a stop would cut it
            signal.signal(signum, signal.SIG_IGN)
        _, status = os.waitpid(child, 0)
        error = _read_all(self._said).decode(errors="replace")
        if os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
            return Ended(128 + signum) if signum in forwarded else Ended(1, crash_reason(signum))
        code = os.WEXITSTATUS(status)
        if forwarded or error == _FINISHED or not (code or error):
            return Ended(code)
        return Ended(1, error) if error else Ended(code, exit_reason(code))


def finished() -> None:
    """In the training child, as it ends the way a command does (its last line printed): tell the parent so, which
    then says nothing more. Elsewhere nothing happens."""
    if _hand_over_to is not None:
        with suppress(OSError):
            os.write(_hand_over_to, _FINISHED.encode())


def end_now(code: int | str | None) -> None:
    """In the training child, whose last line is printed and whose files are written: run the exit handlers, then end
    with `code` (SystemExit's) without the interpreter's teardown. With TensorFlow loaded that teardown, all of it after
    the exit handlers, freeing its modules and objects, kept the command waiting 0.7 to 1.4 s and wrote nothing.

    Not while a worker pool or another thread is still at work (Python waits for them before the exit handlers), nor
    for a message (a string code), nor outside the training child: it then returns, and the process ends as usual."""
    if _hand_over_to is None or isinstance(code, str):
        return
    _stop_worker_pool()
    if _others_at_work():
        return
    atexit._run_exitfuncs()  # logging's, joblib's: the handlers a normal exit runs
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(code or 0)


def _stop_worker_pool() -> None:
    """joblib's worker processes (the sweep's jobs side by side), idle once the sweep has its results: stopped now,
    as loky stops a pool it gives up on, rather than each waiting out TensorFlow's teardown (0.9 s)."""
    reusable = sys.modules.get("joblib.externals.loky.reusable_executor")
    if (pool := getattr(reusable, "_executor", None)) is not None:
        pool.shutdown(wait=True, kill_workers=True)


def _others_at_work() -> bool:
    """Whether a thread besides this one still runs (a normal exit waits for those that are not daemons, and for a
    joblib worker pool, shut down by a hook of the threading module's own)."""
    pool = sys.modules.get("joblib.externals.loky.process_executor")
    return any(thread is not threading.current_thread() and not thread.daemon for thread in threading.enumerate()) \
        or (pool is not None and bool(getattr(pool, "_threads_wakeups", True)))


def hand_over(error: BaseException) -> None:
    """In the training child: give the parent `error`, which nothing here handled, and end at once, without the
    teardown that needs memory the child may not have; the parent writes what the command owes. Elsewhere nothing
    happens: the caller goes on as it would have."""
    if _hand_over_to is None:
        return
    try:
        if lack_of_memory(error) is None and limit_kb() is None:  # a fault of the program: its traceback
            traceback.print_exception(error)
        reason = error_reason(error)
    except MemoryError:
        reason = _NO_MEMORY
    with suppress(Exception):
        os.write(_hand_over_to, reason.encode(errors="replace")[:_MOST_SAID])
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(1)


def _read_all(read: int, wait: bool = False) -> bytes:
    """What came through the pipe whose read end is `read` (closed here): up to its end, waiting for the writer to
    close it where `wait` (the command's orders), else what is there now (what the child said: a process it started
    and left running may hold the write end)."""
    os.set_blocking(read, wait)
    chunks = []
    with suppress(BlockingIOError):
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
    os.close(read)
    return b"".join(chunks)


def _become_trainer(parent: int, hand_over_to: int) -> None:
    """In the child: a process group of its own (a terminal's signals reach it only through the parent), death with
    the parent (SIGKILL of the command must end the training too, so its job folder can be resumed), and errors
    nothing handled handed to the parent (Hydra re-raises them instead of printing them: HYDRA_FULL_ERROR)."""
    global _hand_over_to
    _hand_over_to = hand_over_to
    os.environ["HYDRA_FULL_ERROR"] = "1"
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


def error_reason(error: BaseException) -> str:
    """What a record and the command's last line say of a trainer that handed over `error`."""
    if memory := lack_of_memory(error):
        return _NO_MEMORY.replace("MemoryError", _said(memory))
    return f"failed: the training process stopped on an error it could not handle ({_said(error)}){_likely_memory()}"


def _said(error: BaseException) -> str:
    """`error` in one line of at most _MOST_SHOWN characters."""
    said = ": ".join(filter(None, (type(error).__name__, " ".join(str(error).split()))))
    return said if len(said) <= _MOST_SHOWN else f"{said[:_MOST_SHOWN - 3]}..."


def _likely_memory() -> str:
    """Under an address-space limit, what most often ends a process that way: Python's own code fails in odd ways
    when memory runs out (SystemError, a module half imported)."""
    limit = limit_kb()
    return "" if limit is None else f", most often for want of memory under the address-space limit (ulimit -v {limit})"


def exit_reason(code: int) -> str:
    """What a record and the command's last line say of a trainer that exited with `code` on its own, not saying
    why."""
    return f"exited: the training process ended with exit status {code} without saying why{_likely_memory()}"


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
