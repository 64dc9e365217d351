"""Who is training a job folder: an exclusive lock on `<job>/.claim`, held for the job's whole life.

Two identical sweeps pointed at one sweep folder (two shells, two cluster arrays) must not both train a job:
the second waits for the first's lock, then finds the record and skips the job. The lock is the kernel's
(flock), so a process that dies, even by SIGKILL, lets go of it at once: a stale claim never blocks a resume.
The file also names the holder (pid, host, and the command that started it), so that a stopped command can ask
its own running jobs, and only those, to save their record.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock, so job folders are not claimed there
    fcntl = None

CLAIM_FILE = ".claim"
# Set by the CLI for itself and every process it starts (launcher workers inherit it): which command a job is of.
COMMAND_VARIABLE = "RNN_SWEEP_COMMAND"


def command_id() -> str:
    """This command's id, made once per CLI process and passed on to its job processes through the environment."""
    return os.environ.setdefault(COMMAND_VARIABLE, f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}")


def kill_command() -> None:
    """SIGKILL this process, as `kill -9` of the command would, for tests that name the moment: first the command's
    own process where that watches this one (rnn_sweep.launch.supervisor), which would otherwise outlive it and
    write what a crash leaves."""
    host, pid, _ = command_id().rsplit(":", 2)
    if host == socket.gethostname() and int(pid) == os.getppid():
        os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


class ClaimError(Exception):
    """The claim file could not be made or written (no free inode, no free block): the job cannot start, as when
    Hydra cannot save its config, and ends the same way (rnn_sweep.launch.job)."""


@contextmanager
def claim(run_dir: Path, on_wait: Callable[[dict[str, Any]], None]) -> Iterator[bool]:
    """Hold `run_dir`'s claim until the block ends; yield whether another process held it first (and was waited for).

    A file system without locks (some NFS or Lustre mounts) lets every process through, as before claims existed.
    ClaimError, before the block, when the file cannot be made or cannot say who holds it.
    """
    path = run_dir / CLAIM_FILE
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise ClaimError(f"its claim file {path} could not be made ({error.strerror})") from None
    try:
        waited = _lock(descriptor, lambda: on_wait(holder(run_dir)))
        try:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps(_me()).encode(), 0)
        except OSError as error:  # a full disk: the job would fail further on, and say why less plainly
            raise ClaimError(f"its claim file {path} could not be written ({error.strerror})") from None
        yield waited
    finally:
        os.close(descriptor)  # releases the lock


def holder(run_dir: Path) -> dict[str, Any]:
    """Who claimed `run_dir` last ({} when nobody did or the file cannot be read)."""
    try:
        found = json.loads((run_dir / CLAIM_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def is_held(run_dir: Path) -> bool:
    """Whether a live process holds `run_dir`'s claim now."""
    return is_locked(run_dir / CLAIM_FILE)


def is_locked(path: Path) -> bool:
    """Whether a live process holds an exclusive flock on the file at `path` now."""
    if fcntl is None or not path.is_file():
        return False
    try:
        descriptor = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(descriptor)
    return False


def is_ours(run_dir: Path) -> bool:
    """Whether this very command (this process or one it started) claimed `run_dir`."""
    return holder(run_dir).get("command") == command_id()


def _lock(descriptor: int, on_wait: Callable[[], None]) -> bool:
    if fcntl is None:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        on_wait()
    except OSError:
        return False
    with suppress(OSError):
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    return True


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": command_id()}
