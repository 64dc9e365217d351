"""`hydra/launcher=submitit_local`: hydra-submitit-launcher's local launcher, made to stop in one line on a disk
with no room left.

submitit keeps a job's files in the sweep folder (`.submitit/`: the pickled job, its log files, its pickled
result), and three processes make them: this one, the controller process submitit starts for each job, and the
job's own process. Where one of them finds no room (no free inode, no free block), the stock launcher ends in a
traceback: this process's, the controller's (printed on the command's own stderr), or submitit's "has not
produced any output" after waiting 15 s for a result that cannot come. Here each ends as NoRoomForRecord, which
the CLI turns into one line naming the place, after the sweep's tables (exit 1), as on the basic and joblib
launchers. Only submitit's public job API is used; a job that ends without a result for any other reason is
reported by submitit as before.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher as SubmititLocalLauncher
from omegaconf import OmegaConf

from rnn_sweep.errors import NoRoomForRecord

log = logging.getLogger(__name__)
_INIT_KEYS = ("submitit_folder", "max_num_timeout")  # executor settings; the rest are the jobs' parameters
# The last line of the traceback of an OSError about a file: `OSError: [Errno 28] No space left on device: '/x'`.
_OS_ERROR = re.compile(r"^(?:\w+\.)*\w+: \[Errno \d+\] (?P<why>[^:]+): (?P<path>'.*'|\".*\")$")
_STOPPED = f"{NoRoomForRecord.__module__}.{NoRoomForRecord.__qualname__}: "
_TEMPORARY_PICKLE = re.compile(r"[0-9a-f]{32}\.pkl")  # a job pickled by submitit, not yet moved to its folder


@dataclass
class _Started:
    """A submitted job, with the read end of the pipe its controller process has as stderr."""

    num: int
    job: Any  # submitit's LocalJob (submitit is imported only when a sweep launches)
    controller_stderr: int


class LocalLauncher(SubmititLocalLauncher):
    """Runs each job in a process of its own on this machine, through submitit; no room for what submitit or the job
    must write stops the sweep with one line instead of a traceback."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit 'local' sweep output dir : {sweep_dir}")
        started: list[_Started] = []
        stops: list[tuple[int, NoRoomForRecord]] = []
        num = initial_job_idx
        try:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            if "mode" in self.config.hydra.sweep:
                os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
            executor = submitit_executor("local", self.params)  # makes `.submitit/`
            for num, overrides in enumerate(job_overrides, start=initial_job_idx):
                log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))}")
                started.append(self._submit(executor, list(overrides), num))
        except OSError as error:  # the jobs submitted before this one still run: they are waited for below
            stops.append((num, NoRoomForRecord(f"job {num} not run: {could_not_write(error, self.params)}")))
        return outcomes([(job.num, lambda job=job: self._outcome(job)) for job in started], stops)

    def _submit(self, executor: Any, overrides: list[str], num: int) -> _Started:
        """Submit one job. submitit starts its controller process with this process's stderr, where a controller
        that finds no room for the job's log files would print its traceback: it gets a pipe instead, read once
        the job has ended."""
        with _stderr_to_pipe() as read, no_half_written_pickles(self.params):
            job = executor.submit(self, overrides, "hydra.sweep.dir", num, f"job_id_for_{num}", Singleton.get_state())
        return _Started(num, job, read)

    def _outcome(self, started: _Started) -> JobReturn:
        """The job's return once it has ended; NoRoomForRecord when it has none because a file it needed found no
        room. What its controller said is passed on to this process's stderr otherwise, as the stock launcher
        would have shown it."""
        job = started.job
        job.wait()
        said = _read_all(started.controller_stderr)
        if not job.paths.result_pickle.exists() and (stop := no_room(started.num, said, job.stderr() or "")):
            raise stop
        if said:
            sys.stderr.write(said)
        return job.results()[0]


def submitit_executor(cluster: str, params: dict[str, Any]) -> Any:
    """submitit's executor for `cluster` ("local", "slurm"), set up from a launcher's settings as
    hydra-submitit-launcher sets it up: its folder and timeouts first, the rest as the jobs' parameters."""
    import submitit

    timeouts = {f"{cluster}_max_num_timeout": params["max_num_timeout"]} if "max_num_timeout" in params else {}
    executor = submitit.AutoExecutor(cluster=cluster, folder=params["submitit_folder"], **timeouts)
    common = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{
        key if key in common else f"{cluster}_{key}": value for key, value in params.items() if key not in _INIT_KEYS
    })
    return executor


def could_not_write(error: OSError, params: dict[str, Any]) -> str:
    """What submitit could not do, from the OSError it raised: make the file the error names (of a link or a move,
    the second one), else write in its folder (`submitit_folder` up to its first per-job part, `%j`)."""
    if made := error.filename2 or error.filename:
        return f"submitit could not make {made} ({error.strerror})"
    return f"submitit could not write its files in {submitit_base(params)} ({error.strerror})"


@contextmanager
def no_half_written_pickles(params: dict[str, Any]) -> Iterator[None]:
    """submitit pickles each job under a temporary name (`<uuid hex>.pkl` in `submitit_folder` up to `%j`) before
    moving it into the job's folder: a full disk cuts the write short and leaves the half file there. A submission
    that fails takes the temporary pickles it began with it."""
    folder = submitit_base(params)
    before = set(folder.glob("*.pkl"))
    try:
        yield
    except OSError:
        for path in set(folder.glob("*.pkl")) - before:
            if _TEMPORARY_PICKLE.fullmatch(path.name):
                path.unlink(missing_ok=True)
        raise


def submitit_base(params: dict[str, Any]) -> Path:
    """`submitit_folder` up to its first per-job part (`%j`): where submitit keeps what belongs to no job yet."""
    folder = Path(params["submitit_folder"])
    while "%" in str(folder):
        folder = folder.parent
    return folder


def outcomes(waits: list[tuple[int, Callable[[], JobReturn]]],
             stops: list[tuple[int, NoRoomForRecord]]) -> list[JobReturn]:
    """Each numbered job's return, every job waited for, so that none is left writing to the sweep once it stops;
    then, if any job (or its submission, in `stops`) found no room, the stop of the lowest-numbered one."""
    returns = []
    for num, wait in waits:
        try:
            returns.append(wait())
        except NoRoomForRecord as stop:
            stops.append((num, stop))
    if stops:
        raise min(stops, key=lambda numbered: numbered[0])[1]
    return returns


def no_room(num: int, controller_said: str, job_said: str) -> NoRoomForRecord | None:
    """Why job `num` ended without a result, when a file it needed could not be made: what its controller said
    (the job's log files in `.submitit/`), else what the job's process said (its own NoRoomForRecord, or submitit's
    pickled result); None for any other end."""
    if made := _last_os_error(controller_said):
        return NoRoomForRecord(f"job {num} not run: submitit could not make {made[0]} ({made[1]})")
    if own := [line[len(_STOPPED):] for line in job_said.splitlines() if line.startswith(_STOPPED)]:
        return NoRoomForRecord(own[-1])
    if made := _last_os_error(job_said):
        return NoRoomForRecord(f"job {num} ended without a result: submitit could not make {made[0]} ({made[1]})")
    return None


def _last_os_error(text: str) -> tuple[str, str] | None:
    """The file and the reason of the OSError whose traceback ends `text` (what a process that died of it said)."""
    lines = text.strip().splitlines()
    if lines and (match := _OS_ERROR.match(lines[-1])):
        return ast.literal_eval(match["path"]), match["why"]
    return None


@contextmanager
def _stderr_to_pipe() -> Iterator[int]:
    """This process's stderr (file descriptor 2) replaced by a new pipe for the block, so that processes started in
    it take the pipe as theirs; the pipe's read end. Its write end does not block: a process that says more than
    the pipe holds loses the rest rather than waiting for a reader."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    saved = os.dup(2)
    sys.stderr.flush()
    os.dup2(write, 2)
    try:
        yield read
    except BaseException:
        os.close(read)
        raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(write)


def _read_all(read: int) -> str:
    """What is in the pipe whose read end is `read` (its writers have ended); the end is closed."""
    os.set_blocking(read, False)
    chunks = []
    try:
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
    except BlockingIOError:  # a writer is still alive (a process the controller left behind): what it said so far
        pass
    finally:
        os.close(read)
    return b"".join(chunks).decode(errors="replace")
