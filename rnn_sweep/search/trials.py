"""A search, trial by trial: ask Optuna for trials, have Hydra's launcher run them as jobs, tell Optuna how each
ended. The sweeper plugin (hydra_plugins/rnn_sweep_optuna) hands its config and launcher here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnn_sweep.console import stdout
from rnn_sweep.record.columns import MULTIRUN_FILE
from rnn_sweep.search import study as studies
from rnn_sweep.search import study_workers as workers
from rnn_sweep.search.custom_space import custom_space_function, extend_trial
from rnn_sweep.search.kill_points import kill_point
from rnn_sweep.search.samplers import grid_size
from rnn_sweep.search.space import search_space
from rnn_sweep.search.study import JOB
from rnn_sweep.search.study_files import report_study


def run_search(config: DictConfig, launcher: Any, arguments: list[str]) -> list[Any]:
    """Run the search `config.hydra.sweeper` describes, resuming its study; each batch's job returns, in order."""
    sweep_dir = Path(config.hydra.sweep.dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / MULTIRUN_FILE)
    with workers.worker_slot(sweep_dir) as worker:  # held while this worker searches: others get other numbers
        return _search(config, launcher, arguments, sweep_dir, worker)


def _search(config: DictConfig, launcher: Any, arguments: list[str], sweep_dir: Path, worker: int) -> list[Any]:
    sweeper = config.hydra.sweeper
    space = search_space(sweeper, arguments)
    dists = studies.distributions(space)
    custom_space = custom_space_function(sweeper)
    with workers.study_lock(sweep_dir):  # two workers starting at once do not both create the study
        study = studies.open_study(sweeper, sweep_dir, space, worker)
    if len(study.directions) > 1 and sweeper.pruner.name != "none":
        stdout.print("Pruning is off: Optuna cannot prune a search of several objectives, so every trial "
                     "runs all its epochs.")
    n_trials = min(sweeper.n_trials, grid_size(study.sampler) or sweeper.n_trials)  # a grid ends when done
    locks = workers.TrialLocks(sweep_dir)
    returns = []
    while asked := workers.claim_trials(study, sweep_dir, n_trials, sweeper.n_jobs, locks,
                                        lambda: _ask(config, study, space, dists, custom_space)):
        try:
            for batch in _contiguous(asked):
                first = batch[0][0].user_attrs[studies.JOB]
                kill_point("asked", first)
                jobs = launcher.launch([overrides for _, overrides in batch], initial_job_idx=first)
                for (trial, _), job in zip(batch, jobs, strict=True):
                    kill_point("recorded", trial.user_attrs[studies.JOB])
                    studies.tell(study, trial, job)
                    kill_point("told", trial.user_attrs[studies.JOB])
                    locks.release(trial.user_attrs[studies.JOB])
                returns.append(jobs)
        except BaseException:  # Ctrl-C: the trials still running are failed, and asked again on resume
            _fail_running(study, [trial for trial, _ in asked])
            raise
    report_study(study, sweep_dir)
    return returns


def _ask(config: DictConfig, study: Any, space: Any, dists: Any, custom_space: Any) -> tuple[Any, list[str]]:
    """A trial and its job's overrides, with what `custom_search_space` suggests for it added."""
    trial, overrides = studies.ask(study, space, dists)
    if custom_space is not None:
        overrides = extend_trial(custom_space, config, trial, overrides)
        trial.set_user_attr(studies.OVERRIDES, overrides)
    return trial, overrides


def _contiguous(asked: list[tuple[Any, list[str]]]) -> list[list[tuple[Any, list[str]]]]:
    """The asked trials in runs of consecutive job numbers: a launcher numbers a batch's jobs from its first."""
    runs: list[list[tuple[Any, list[str]]]] = []
    for item in sorted(asked, key=lambda item: item[0].user_attrs[JOB]):
        if runs and runs[-1][-1][0].user_attrs[JOB] + 1 == item[0].user_attrs[JOB]:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _fail_running(study: Any, trials: list[Any]) -> None:
    from optuna.trial import TrialState

    for trial in trials:
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
