"""What a command stopped by SIGINT or SIGTERM still owes: a record for every job it had running.

A job in this process wrote its own `interrupted` record on the way out. Jobs in other processes (joblib
workers, submitit tasks, whatever launcher comes next) are asked to do the same with the signal the command got,
and waited for; a job that could not (killed by its launcher first) gets its record written here, from its saved
config and the epochs its history.csv holds.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import time
from contextlib import suppress
from pathlib import Path

from omegaconf import OmegaConf

from rnn_sweep import stopping
from rnn_sweep.config.validate import validate
from rnn_sweep.record.columns import COLUMNS, HISTORY_FILE, HYDRA_DIR, RESULT_FILE
from rnn_sweep.record.result_files import new_record, write_result
from rnn_sweep.sweep.claims import holder, is_held, is_ours

# How long the job processes get to write their records before they are written for them.
GRACE_SECONDS = 60.0


def job_folders(sweep_dir: Path) -> list[Path]:
    """The job folders of a sweep (those Hydra made a `.hydra/` in)."""
    return sorted(hydra.parent for hydra in sweep_dir.rglob(HYDRA_DIR))


def save_running_jobs(folders: list[Path]) -> None:
    """Signal this command's jobs running in other processes on this machine, wait for them, record the rest."""
    ours = [folder for folder in folders if is_ours(folder)]
    for folder in ours:
        claimant = holder(folder)
        if claimant.get("pid") != os.getpid() and claimant.get("host") == socket.gethostname() and is_held(folder):
            with suppress(OSError, ValueError):  # ended meanwhile
                os.kill(int(claimant["pid"]), stopping.received or signal.SIGINT)
    deadline = time.monotonic() + GRACE_SECONDS
    while any(is_held(folder) for folder in ours) and time.monotonic() < deadline:
        time.sleep(0.1)
    for folder in ours:
        if not is_held(folder) and not (folder / RESULT_FILE).exists():
            write_result(folder, interrupted_record(folder))


def save_started_run(run_dir: Path) -> bool:
    """A single run's folder after a stop: its record if the run had started (written here if it had no time to
    write one itself), or the folder removed if it is still empty. Whether the run had started."""
    if not (run_dir / RESULT_FILE).exists() and (run_dir / HYDRA_DIR).is_dir():
        write_result(run_dir, interrupted_record(run_dir))
    if run_dir.is_dir() and not any(run_dir.iterdir()):
        run_dir.rmdir()
    return (run_dir / RESULT_FILE).exists()


def interrupted_record(run_dir: Path) -> dict:
    """The record of a job stopped before it could write one: its settings, and the epochs it had finished."""
    return record_for_job(run_dir, "interrupted", f"interrupted ({stopping.describe()}) before the run finished; its "
                                                  "process was stopped before it could write this record")


def record_for_job(run_dir: Path, status: str, error: str) -> dict:
    """The record of a job whose process ended before it could write one (stopped, or crashed): the settings Hydra
    saved in its folder, and the epochs its history.csv holds."""
    overrides = _saved_overrides(run_dir)
    try:
        record = new_record(validate(OmegaConf.load(run_dir / HYDRA_DIR / "config.yaml")), run_dir, overrides)
    except Exception:  # a saved config that cannot be read or validated: the record keeps what is known
        record = {**dict.fromkeys(COLUMNS), "run_dir": str(run_dir), "overrides": overrides}
    record.update(status=status, epochs_completed=_epochs(run_dir), error=error)
    return record


def _saved_overrides(run_dir: Path) -> list[str]:
    try:
        return [str(item) for item in OmegaConf.load(run_dir / HYDRA_DIR / "overrides.yaml")]
    except Exception:  # unreadable: the record goes without them
        return []


def _epochs(run_dir: Path) -> int:
    try:
        with open(run_dir / HISTORY_FILE, newline="") as handle:
            return sum(1 for _ in csv.DictReader(handle))
    except OSError:
        return 0

