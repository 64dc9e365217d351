"""The Hydra task: one composed config in, one run folder out. Kept thin; the work is in rnn_sweep.train.runner."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from rnn_sweep import stopping
from rnn_sweep.cluster import scheduler as cluster
from rnn_sweep.cluster.configs import register_launchers
from rnn_sweep.config.paths import conf_dir, group_options
from rnn_sweep.config.schema import register
from rnn_sweep.config.validate import validate
from rnn_sweep.console import LiveProgress, live_progress_allowed, print_error, stdout
from rnn_sweep.errors import ConfigError, NoRoomForRecord
from rnn_sweep.launch.preflight import sweep_size
from rnn_sweep.record.columns import COLUMNS, RESULT_FILE, STEPS_FILE
from rnn_sweep.record.result_files import foreign_record, new_record, refused_record, write_last_result
from rnn_sweep.report.run_console import job_line, print_run_summary, print_steps_table
from rnn_sweep.search.settings import SWEEPER_TARGET
from rnn_sweep.sweep import saved_config
from rnn_sweep.sweep.claims import ClaimError, claim
from rnn_sweep.sweep.grid import register_grid_sweeper
from rnn_sweep.sweep.launchers import launcher_traits, threads_per_job
from rnn_sweep.sweep.progress import SweepClock, sweep_clock
from rnn_sweep.sweep.resume import finished_result, register_resolver, settled_result
from rnn_sweep.train.device import available_cores
from rnn_sweep.train.warm_up import load_training_code

register()
register_launchers()
register_grid_sweeper()
register_resolver()
saved_config.install()
OmegaConf.register_new_resolver("rnn_sweep.options", group_options, replace=True)  # --help lists each group
cluster.register_resolver()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def train_app(cfg: DictConfig) -> dict[str, Any]:
    """Train one run; in a multirun, skip it when resuming finds it done. Returns the run's record (the search
    sweeper reads its objective from it)."""
    return _run(cfg)


def _run(cfg: DictConfig) -> dict[str, Any]:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = list(hydra_cfg.overrides.task)
    single_run = hydra_cfg.mode == RunMode.RUN
    jobs = None if single_run else sweep_size(hydra_cfg)
    clock = None if single_run else sweep_clock(hydra_cfg, jobs)
    if clock is not None:
        stdout.print(f"[bold]{clock.line()}[/]  {' '.join(overrides)}")
    unsaved = saved_config.unsaved(run_dir)  # asked first: the next job in this folder starts afresh
    try:
        typed = validate(cfg)
    except ConfigError as error:
        if single_run:
            print_error(str(error))
            sys.exit(error.exit_code)
        return _ended_before_training(refused_record(cfg, run_dir, overrides, f"ConfigError: {error}"),
                                      f"job {hydra_cfg.job.num} not run: {error}")

    if reason := foreign_record(run_dir, typed):  # a folder named by hand (hydra.sweep.subdir, hydra.run.dir)
        print_error(reason if single_run else f"job {hydra_cfg.job.num} not run: {reason}")
        if single_run:
            sys.exit(ConfigError.exit_code)
        return {**dict.fromkeys(COLUMNS), "run_dir": str(run_dir), "status": "failed", "error": reason,
                "overrides": overrides}

    if unsaved and (single_run or not finished_result(typed, run_dir)):  # a finished job is skipped as ever
        return _not_started(typed, run_dir, overrides, hydra_cfg, unsaved)

    if threading.current_thread() is threading.main_thread() and not launcher_traits(hydra_cfg.launcher).on_slurm:
        # Also in a launcher's worker process: SIGTERM there, too, leaves an `interrupted` record. Not in a SLURM
        # job: there SIGTERM is SLURM ending the job (scancel, time limit), a row the launcher writes with the reason.
        stopping.install()
    elif threading.current_thread() is threading.main_thread():
        stopping.hold_back_warnings()  # SLURM's warning before the time limit: raised between steps, not in them
    try:
        with claim(run_dir, on_wait=lambda holder: stdout.print(f"waiting: {run_dir} is being trained by {holder}")) \
                as waited:
            if not single_run and (done := finished_result(typed, run_dir) or
                                   (waited and settled_result(typed, run_dir))):
                return _skipped(run_dir, done)
            record = _train_job(typed, run_dir, overrides, hydra_cfg, jobs, clock)
    except ClaimError as error:  # a full disk: a finished job is still skipped, without its claim
        if not single_run and (done := finished_result(typed, run_dir)):
            return _skipped(run_dir, done)
        return _not_started(typed, run_dir, overrides, hydra_cfg, str(error))
    try:
        if (run_dir / STEPS_FILE).is_file():
            print_steps_table(run_dir / STEPS_FILE)
        if single_run:
            print_run_summary(record)
        else:
            stdout.print(job_line(record, clock.position if clock else ""), highlight=False, markup=False)
    except MemoryError:  # a memory limit the run already met: its record is written, the summary can go
        record = {**record, "error": record["error"] or "MemoryError while printing its summary"}
    if single_run and record["status"] != "ok":
        print_error(f"the run ended with status {record['status']}: {record['error']}")
        sys.exit(1)
    return record


def _skipped(run_dir: Path, done: dict[str, Any]) -> dict[str, Any]:
    """A job whose folder already holds its result: say so and return that record."""
    status = "an ok" if done["status"] == "ok" else f"a {done['status']}"
    stdout.print(f"skipped: {run_dir} already holds {status} result for this config")
    return done


def _not_started(cfg: DictConfig, run_dir: Path, overrides: list[str], hydra_cfg: DictConfig,
                 why: str) -> dict[str, Any]:
    """End a job whose folder could not be set up (Hydra's files, its claim) with a `failed` record saying `why`, or
    stop the command where not even that record fits; a single run exits 1."""
    single_run = hydra_cfg.mode == RunMode.RUN
    reason = f"{why}; the run did not start"
    record = _ended_before_training({**new_record(cfg, run_dir, overrides), "error": reason},
                                    reason if single_run else f"job {hydra_cfg.job.num} not run: {reason}")
    if single_run:
        sys.exit(1)
    return record


def _ended_before_training(record: dict[str, Any], message: str | None = None) -> dict[str, Any]:
    """Write the `failed` record of a job that could not train and print `message`; with no room even for the
    record, stop the command (NoRoomForRecord), its message saying why."""
    run_dir, why = Path(record["run_dir"]), record["error"]
    if error := write_last_result(run_dir, record):
        raise NoRoomForRecord(f"{message or why}; no room for its record either ({run_dir / RESULT_FILE}: "
                              f"{error.strerror})")
    if message:
        print_error(message)
    return record


def _train_job(cfg: DictConfig, run_dir: Path, overrides: list[str], hydra_cfg: DictConfig, jobs: int | None,
               clock: SweepClock | None) -> dict[str, Any]:
    """Train one job whose config is known good: load TensorFlow now, give the job its share of the CPU threads
    for the launcher that runs it, and hand it to rnn_sweep.train.runner.

    Not earlier, in a thread beside Hydra's composing: the import is Python code and library loading that hold
    the interpreter's lock, so the two take turns rather than overlap (measured: no sooner at the first step)."""
    try:
        load_training_code()  # only now that the config is known good, and without TensorFlow's start-up lines
        from rnn_sweep.train.runner import train_run
    except (MemoryError, ImportError) as error:  # an address-space limit (ulimit -v) too small for TensorFlow
        return _ended_before_training({
            **new_record(cfg, run_dir, overrides),
            "error": f"TensorFlow could not be loaded ({type(error).__name__}: {error}); a memory limit "
                     "(ulimit -v, the scheduler's --mem) too small for it does this"})

    threads = cfg.train.threads or threads_per_job(hydra_cfg.launcher, jobs, available_cores())
    trial = None if hydra_cfg.mode == RunMode.RUN else _search_trial(hydra_cfg)
    return train_run(cfg, run_dir, overrides, stdout, threads=threads, trial=trial,
                     live=_live_progress(hydra_cfg, clock))


def _search_trial(hydra_cfg: DictConfig) -> Any:
    """The Optuna trial a search job reports its epochs to; None outside a search (Optuna is not imported then)."""
    if hydra_cfg.sweeper.get("_target_") != SWEEPER_TARGET:
        return None
    from rnn_sweep.search.objectives import prunes
    from rnn_sweep.search.study import job_trial

    if not prunes(hydra_cfg.sweeper):  # several objectives, or pruner none: nothing to report epochs to
        return None

    return job_trial(hydra_cfg)


def _live_progress(hydra_cfg: DictConfig, clock: SweepClock | None) -> LiveProgress | None:
    """A live display on an interactive terminal, with the sweep's position above it; none in a joblib worker."""
    if not live_progress_allowed(stdout, launcher_traits(hydra_cfg.launcher).side_by_side):
        return None
    return LiveProgress(header=None if clock is None else clock.line)
