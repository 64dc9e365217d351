"""`hydra/launcher=slurm`: hydra-submitit-launcher's SLURM launcher, made to survive jobs that SLURM kills.

The plugin waits on `sacct`, which clusters without accounting storage do not have (it would then wait forever
for a killed job), and it raises on the first job that returned nothing, losing the sweep's tables. Here job
states come from `squeue` (slurmctld remembers finished jobs for MinJobAge, 300 s by default, and they are polled
far more often), and a job that ended without a result becomes a row in its own job folder that names why:
TIMEOUT, OUT_OF_MEMORY, CANCELLED, ... No room for submitit's files, or for that row, stops the sweep in one line
(NoRoomForRecord), as on the other launchers; jobs SLURM accepted before the submission failed are cancelled.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import OmegaConf, open_dict
from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

from rnn_sweep.cluster.local import (
    could_not_write,
    no_half_written_pickles,
    no_room,
    outcomes,
    submitit_base,
    submitit_executor,
)
from rnn_sweep.cluster.scheduler import end_reason, ended_by_slurm, program_output, slurm_lines
from rnn_sweep.config.validate import validate
from rnn_sweep.console import stdout
from rnn_sweep.errors import NoRoomForRecord
from rnn_sweep.record.columns import RESULT_FILE
from rnn_sweep.record.identity import config_hash, is_finished
from rnn_sweep.record.result_files import new_record, read_result, write_last_result

_POLL_S = 30  # at most this long between two squeue calls; far below SLURM's default MinJobAge (300 s)
# What submitit makes in its folder for a submission: the batch script it gives sbatch, then a folder per job (the
# array's own, `<id>`, and one per task, `<id>_<task>`).
_BATCH_SCRIPT = ".submission_file_"
_JOB_FOLDER = re.compile(r"\d+(_\d+)?")


class SqueueWatcher(SlurmInfoWatcher):
    """Job states from `squeue` (slurmctld's memory) instead of `sacct` (accounting storage, often absent)."""

    def _make_command(self) -> list[str] | None:
        to_check = sorted({job_id.split("_")[0] for job_id in self._registered - self._finished})
        if not to_check:
            return None
        return ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T|%N", f"--jobs={','.join(to_check)}"]

    def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
        text = string.decode() if isinstance(string, bytes) else string
        return super().read_info("JobID|State|NodeList\n" + text)


class SlurmTimeLimit(Exception):
    """SLURM's warning signal reached the run: the job is about to be stopped (time limit or preemption)."""


class SlurmLauncher(SubmititSlurmLauncher):
    """Submits the sweep as one SLURM job array; every job ends as a row, whatever SLURM did to it."""

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit calls this on SLURM's USR2 (signal_delay_s before the time limit, or on preemption).

        A run cannot carry on in a new job, so it stops where it is and its row says why (raised inside training,
        the run's own record keeps the epochs done so far).
        """
        timeout_min, delay_s = self.params.get("timeout_min"), self.params.get("signal_delay_s")
        raise SlurmTimeLimit(
            f"TIMEOUT: SLURM signalled that the job's time limit (hydra.launcher.timeout_min={timeout_min}) is "
            f"{delay_s} s away (or that the job is being preempted), so the run stopped before it finished. "
            "Give it more time with hydra.launcher.timeout_min=..."
        )

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        job_args = [
            (list(overrides), "hydra.sweep.dir", initial_job_idx + index, f"job_id_for_{initial_job_idx + index}",
             Singleton.get_state())
            for index, overrides in enumerate(job_overrides)
        ]
        cancelled: list[str] = []
        try:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            with no_jobs_left_queued(self.params, cancelled), no_half_written_pickles(self.params):
                jobs = submitit_executor("slurm", self.params).map_array(self, *zip(*job_args, strict=True))
        except OSError as error:
            last = initial_job_idx + len(job_args) - 1
            one = last == initial_job_idx
            which = f"job {last}" if one else f"jobs {initial_job_idx} to {last}"
            taken_back = (f"; SLURM had already accepted {'it' if one else 'them'} as job {', '.join(cancelled)}, now "
                          "cancelled") if cancelled else ""
            raise NoRoomForRecord(f"{which} not run: {could_not_write(error, self.params)}{taken_back}") from None
        watcher = SqueueWatcher(delay_s=_POLL_S)
        for job in jobs:
            job.watcher = watcher  # an instance attribute: the class's sacct watcher stays as it is
            watcher.register_job(job.job_id)
        stdout.print(f"submitted {len(jobs)} jobs to SLURM as job array {jobs[0].job_id.split('_')[0]} "
                     f"(squeue --jobs={jobs[0].job_id.split('_')[0]}); logs in {jobs[0].paths.folder.parent}")
        try:
            return outcomes([(args[2], lambda job=job, args=args: self._outcome(job, args[0], args[2]))
                             for job, args in zip(jobs, job_args, strict=True)], [])
        except KeyboardInterrupt:
            # Ctrl-C stops the sweep, on the cluster too: jobs left running would race the resumed sweep's.
            subprocess.run(["scancel", *{job.job_id.split("_")[0] for job in jobs}], check=False)
            raise

    def _outcome(self, job: SlurmJob, overrides: list[str], job_num: int) -> JobReturn:
        """The job's own return, or, when it returned nothing, the row written for it here."""
        try:
            returned = job_return(job)
        except Exception as error:  # submitit's UncompletedJobError / FailedJobError: no usable result
            return self._ended_without_result(job, overrides, job_num, str(error))
        if returned.status != JobStatus.COMPLETED:
            return self._ended_without_result(job, overrides, job_num, repr(returned._return_value))
        return returned

    def _ended_without_result(self, job: SlurmJob, overrides: list[str], job_num: int, detail: str) -> JobReturn:
        assert self.hydra_context is not None and self.config is not None
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(sweep_config.hydra.job):
            sweep_config.hydra.job.num = job_num
        run_dir = (Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)).absolute()
        typed = validate(OmegaConf.masked_copy(sweep_config, [key for key in sweep_config if key != "hydra"]))
        record = read_result(run_dir)
        if not is_finished(record, config_hash(typed)):
            record = self._failure_record(job, typed, run_dir, overrides, detail)
            why = record["error"]
            if error := write_last_result(run_dir, record):  # the job's own stop, where it said one, says why
                raise no_room(job_num, "", program_output(job.stderr())) or NoRoomForRecord(
                    f"job {job_num} ended without a result ({why}); no room for its record either "
                    f"({run_dir / RESULT_FILE}: {error.strerror})")
        return JobReturn(overrides=overrides, working_dir=str(run_dir), task_name=sweep_config.hydra.job.name,
                         status=JobStatus.COMPLETED, _return_value=record)

    @staticmethod
    def _failure_record(job: SlurmJob, typed: Any, run_dir: Path, overrides: list[str], detail: str) -> dict:
        info = _settled_info(job)
        state, node, log = info.get("State", "UNKNOWN"), info.get("NodeList") or None, job.stderr()
        reason = end_reason(state, "\n".join(filter(None, (log, detail))))
        last_words = slurm_lines(log) or (detail.strip().splitlines() or ["nothing"])[-1]
        record = new_record(typed, run_dir, filter_overrides(overrides))
        record.update(
            status="interrupted" if reason == "CANCELLED" else "failed",
            error=(f"{reason}: SLURM ended job {job.job_id} on {node} (state {state}) before the run wrote its "
                   f"result. It said: {last_words}. Log: {job.paths.stderr}"),
            scheduler="slurm", slurm_job_id=job.job_id, node=node,
        )
        return record


@contextmanager
def no_jobs_left_queued(params: dict[str, Any], cancelled: list[str]) -> Iterator[None]:
    """sbatch accepts the jobs before submitit makes their folder and moves the batch script and the pickled jobs
    into it: when that fails (a full disk, a folder it may not write) or is stopped, the job id goes with the
    exception, and the jobs would stay queued, to run later beside the resumed sweep. A submission that fails
    cancels what SLURM accepted during it, and adds their ids to `cancelled`: the jobs whose batch script is one it
    wrote (squeue names the script sbatch was given), and those whose folder it made."""
    base = submitit_base(params)
    before = _names_in(base)
    try:
        yield
    except BaseException:
        accepted = _accepted_in(base, _names_in(base) - before)
        if accepted and subprocess.run(["scancel", *accepted], capture_output=True, check=False).returncode == 0:
            cancelled.extend(accepted)
        raise


def _accepted_in(base: Path, made: set[str]) -> list[str]:
    """The SLURM jobs of a submission that made `made` in submitit's folder `base`: those it made a folder for, and
    those squeue says were given one of its batch scripts."""
    accepted = {name.split("_")[0] for name in made if _JOB_FOLDER.fullmatch(name)}
    scripts = {str(base / name) for name in made if name.startswith(_BATCH_SCRIPT)}
    if scripts:
        listed = subprocess.run(["squeue", "--noheader", f"--user={os.getuid()}", "--format=%F|%o"],
                                capture_output=True, text=True, check=False).stdout
        accepted |= {job for job, _, script in (line.partition("|") for line in listed.splitlines())
                     if script in scripts}
    return sorted(accepted)


def _names_in(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def job_return(job: SlurmJob) -> JobReturn:
    """What the job returned, once it ended; submitit's error at once when SLURM itself ended it.

    submitit waits up to 15 s for a result file that a slow shared file system may not show yet. After scancel or
    a limit none is coming, and a sweep would wait that long for each such job in turn (a run that had finished
    first has its own record, read before any row is made for it).
    """
    job.wait()
    if ended_by_slurm(job.state):
        job._results_timeout_s = 0
    return job.results()[0]


# States in which SLURM still counts a job as going: one that already ended without a result is only not told yet.
_STILL_GOING = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED")
SETTLE_SECONDS = 60


def _settled_info(job: SlurmJob) -> dict[str, str]:
    """The job's accounting once SLURM tells its end: the watcher's cached state, and sacct for a moment after the
    job's own files are written, can still say RUNNING, which would hide the reason (TIMEOUT, OUT_OF_MEMORY, ...)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    info = job.get_info(mode="cache")
    while (info.get("State") or "UNKNOWN").split()[0].upper() in _STILL_GOING and time.monotonic() < deadline:
        time.sleep(1)
        info = job.get_info(mode="force")
    return info
