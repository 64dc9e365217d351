"""The Optuna study of a search: kept in its sweep folder, resumed after a kill, shared by the jobs that prune.

Each trial runs in a job folder of its own, its "slot" (the trial's user attribute `job`, the folder's number).
A trial a kill left running is settled when the search resumes: from its run's record when the job wrote one
(complete with its value, pruned, or failed with the error), else marked failed and its slot asked again with the
same parameters, so the job folder is finished in place and `n_trials` counts slots: the search ends with that many
trials that ran to an end (complete, pruned, or failed with the run's error), however often it was resumed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from hydra.core.utils import JobReturn
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

from rnn_sweep.errors import ConfigError
from rnn_sweep.record.columns import STATUSES, TRIAL_JOB, TRIAL_OVERRIDES
from rnn_sweep.record.result_files import ResultFileError, read_result
from rnn_sweep.search.kill_points import kill_point
from rnn_sweep.search.objectives import directions, objective_names, objective_values
from rnn_sweep.search.samplers import make_sampler
from rnn_sweep.search.settings import DEFAULT_OBJECTIVE
from rnn_sweep.search.space import Param, SearchSpace
from rnn_sweep.search.study_storage import open_storage

JOB = TRIAL_JOB  # user attribute: the trial's job folder number
OVERRIDES = TRIAL_OVERRIDES  # user attribute: the job's overrides, for the command line that trains it alone
STATUS = "status"  # user attribute of a trial whose run ended (its result's status); killed trials have none
ERROR = "error"
ENDED = tuple(status for status in STATUSES if status != "interrupted")  # an interrupted run is trained again
SAMPLER = "sampler"  # study user attribute: the sampler's config, its seed included (a resume adds the trials so far)
DEFAULT_STUDY_NAME = "rnn_sweep"

optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_pruner(pruner: DictConfig) -> optuna.pruners.BasePruner:
    if pruner.name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=pruner.n_startup_trials, n_warmup_steps=pruner.n_warmup_steps)


def study_name(sweeper: DictConfig) -> str:
    """The study's name; a null one (hydra-optuna-sweeper's default) still names one study, so it can resume."""
    return sweeper.get("study_name") or DEFAULT_STUDY_NAME


def open_study(sweeper: DictConfig, sweep_dir: Path, space: SearchSpace, worker: int = 0) -> optuna.Study:
    """Create the study, or load it when the sweep folder already holds it (resume), with its sampler, seeded for
    `worker` (the number study_workers.worker_slot gives this worker)."""
    wanted = directions(sweeper)
    pruner = make_pruner(sweeper.pruner) if len(wanted) == 1 else optuna.pruners.NopPruner()  # cannot prune several
    study = optuna.create_study(study_name=study_name(sweeper), storage=open_storage(sweeper.storage, sweep_dir),
                                directions=wanted, pruner=pruner, load_if_exists=True)
    _name_objectives(study, objective_names(sweeper), sweep_dir)
    study.sampler = make_sampler(sweeper.sampler, space.params, len(study.trials), worker)
    study.set_user_attr(SAMPLER, OmegaConf.to_container(sweeper.sampler, resolve=True))  # to repeat the search
    return study


def _name_objectives(study: optuna.Study, names: list[str], sweep_dir: Path) -> None:
    """Name the study's values after their record columns (Optuna's dashboard and plots show them); a resumed
    study must be scored as it was."""
    directions_now = [direction.name.lower() for direction in study.directions]
    if study.metric_names is None and len(directions_now) == len(names):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # set_metric_names is marked experimental
            study.set_metric_names(names)
    if study.metric_names != names or len(study.directions) != len(names):
        kept = zip(directions_now, study.metric_names or ["?"] * len(directions_now), strict=True)
        raise ConfigError(f"The study {study.study_name!r} in {sweep_dir} searches "
                          f"{', '.join(f'{direction} {name}' for direction, name in kept)}, "
                          f"not {', '.join(names)}: give its direction and objectives again, or a new "
                          "hydra.sweep.dir for a new search. Nothing was run.")


def distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    return {param.name: _distribution(param) for param in space.params}


def _distribution(param: Param) -> BaseDistribution:
    """The Optuna distribution of a searched key, as docs/search.md tabulates it."""
    if param.kind == "choice":
        return CategoricalDistribution(param.choices)
    if param.kind == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.log, step=int(param.step or 1))
    return FloatDistribution(param.low, param.high, log=param.log, step=param.step)


def settle_orphans(study: optuna.Study, sweep_dir: Path, alive: Callable[[int], bool] = lambda slot: False) -> None:
    """Finish the trials a kill left running: from the record their job wrote, else as failed (asked again later).

    A kill can land after the job wrote its result.json, or after the trial took the run's status, but before the
    study was told: such a run is not lost, it is told now as it ended. A trial whose slot is `alive` (another
    worker still runs it, see study_workers.py) is left alone, and so is one that its worker told, and let go of,
    while this one looked: it is asked again whether it still runs once its worker was found gone.
    """
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if JOB in trial.user_attrs and alive(trial.user_attrs[JOB]):
            continue
        if trial._trial_id not in _running_ids(study):
            continue
        record = _finished_record(trial, Path(sweep_dir))
        if record is None:
            study.tell(trial.number, state=TrialState.FAIL)
        else:
            tell_record(study, Trial(study, trial._trial_id), record)


def _running_ids(study: optuna.Study) -> set[int]:
    return {trial._trial_id for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}


def _finished_record(trial: FrozenTrial, sweep_dir: Path) -> dict | None:
    """How the trial's run ended, if it did: its job folder's record for these very overrides, or the status the
    trial took from it; None when the run never ended (or was interrupted), so the slot is trained again."""
    if JOB not in trial.user_attrs:
        return None
    try:
        record = read_result(sweep_dir / str(trial.user_attrs[JOB]))
    except ResultFileError:
        record = None
    if record and record.get("overrides") == trial.user_attrs.get(OVERRIDES) and record.get("status") in ENDED:
        return record
    if trial.user_attrs.get(STATUS) in ENDED:
        return {"status": trial.user_attrs[STATUS], "error": trial.user_attrs.get(ERROR)}
    return None


def trials_left(study: optuna.Study, n_trials: int) -> int:
    """Queue again the slots whose last trial failed without an end (killed); the number of trials still to ask."""
    latest = _latest_per_slot(study)
    queued = {trial.user_attrs[JOB] for trial in latest.values() if trial.state == TrialState.WAITING}
    for slot, trial in sorted(latest.items()):
        if not _ran_to_an_end(trial) and trial.state == TrialState.FAIL and slot not in queued:
            study.enqueue_trial(trial.params, user_attrs={JOB: slot})
    finished = sum(_ran_to_an_end(trial) for trial in latest.values())
    return max(n_trials - finished, 0)


def ask(study: optuna.Study, space: SearchSpace, dists: dict[str, BaseDistribution]) -> tuple[Trial, list[str]]:
    """A trial with its slot (a queued one's, or the next free one) and the overrides of its job."""
    trial = study.ask(dists)
    if JOB not in trial.user_attrs:
        trial.set_user_attr(JOB, max(_latest_per_slot(study), default=-1) + 1)
    overrides = [*space.fixed, *(f"{name}={trial.params[name]}" for name in dists)]
    trial.set_user_attr(OVERRIDES, overrides)
    return trial, overrides


def tell(study: optuna.Study, trial: Trial, job: JobReturn) -> None:
    """Finish the trial from its run's record: ok -> complete, pruned -> pruned, anything else -> failed."""
    try:
        record = job.return_value
    except Exception as error:  # the job raised instead of writing a failed record
        record = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
    tell_record(study, trial, record)


def tell_record(study: optuna.Study, trial: Trial, record: dict) -> None:
    """Finish the trial from a run's record (see `tell`)."""
    status = record.get("status")
    trial.set_user_attr(STATUS, status)
    kill_point("status", trial.user_attrs[JOB])
    values = objective_values(record, study.metric_names or [DEFAULT_OBJECTIVE])
    if status == "ok" and values is not None:
        study.tell(trial, values=values)
    elif status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    else:
        trial.set_user_attr(ERROR, record.get("error"))
        study.tell(trial, state=TrialState.FAIL)


def job_trial(hydra_cfg: DictConfig) -> Trial | None:
    """In a job of a search: its running trial, to report each epoch to; None if the study has no such trial."""
    storage = open_storage(hydra_cfg.sweeper.storage, Path(hydra_cfg.sweep.dir))
    study = optuna.load_study(study_name=study_name(hydra_cfg.sweeper), storage=storage,
                              pruner=make_pruner(hydra_cfg.sweeper.pruner))
    slot = int(hydra_cfg.job.num)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get(JOB) == slot:
            study_id = storage.get_study_id_from_name(study.study_name)
            return Trial(study, storage.get_trial_id_from_study_id_trial_number(study_id, trial.number))
    return None


def _latest_per_slot(study: optuna.Study) -> dict[int, FrozenTrial]:
    latest = {}
    for trial in study.get_trials(deepcopy=False):  # in trial number order, so a slot's last trial wins
        if JOB in trial.user_attrs:
            latest[trial.user_attrs[JOB]] = trial
    return latest


def _ran_to_an_end(trial: FrozenTrial) -> bool:
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or STATUS in trial.user_attrs


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    return [trial for trial in study.get_trials(deepcopy=False) if _ran_to_an_end(trial)]
