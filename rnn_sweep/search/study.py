"""The Optuna study of a search: kept in its sweep folder, resumed after a kill, shared by the jobs that prune.

Each trial runs in a job folder of its own, its "slot" (the trial's user attribute `job`, the folder's number).
A trial a kill left running is marked failed when the search resumes, and its slot is asked again with the same
parameters, so the job folder is finished in place and `n_trials` counts slots: the search ends with that many
trials that ran to an end (complete, pruned, or failed with the run's error), however often it was resumed.
"""

from __future__ import annotations

import math
from pathlib import Path

import optuna
from hydra.core.utils import JobReturn
from omegaconf import DictConfig
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

from rnn_sweep.search.space import Param, SearchSpace

STUDY_FILE = "optuna.db"
JOB = "job"  # user attribute: the trial's job folder number
OVERRIDES = "overrides"  # user attribute: the job's overrides, for the command line that trains it alone
STATUS = "status"  # user attribute of a trial whose run ended (its result's status); killed trials have none
ERROR = "error"
OBJECTIVE = "best_val_accuracy"

optuna.logging.set_verbosity(optuna.logging.WARNING)


def storage_url(sweeper: DictConfig, sweep_dir: Path) -> str:
    return sweeper.storage or f"sqlite:///{(Path(sweep_dir) / STUDY_FILE).resolve()}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage; sqlite waits for a parallel job's write instead of failing with `database is locked`."""
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine)


def make_pruner(pruner: DictConfig) -> optuna.pruners.BasePruner:
    if pruner.name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=pruner.n_startup_trials, n_warmup_steps=pruner.n_warmup_steps)


def open_study(sweeper: DictConfig, sweep_dir: Path) -> optuna.Study:
    """Create the study, or load it when the sweep folder already holds it (resume)."""
    study = optuna.create_study(study_name=sweeper.study_name, storage=open_storage(storage_url(sweeper, sweep_dir)),
                                direction=sweeper.direction, pruner=make_pruner(sweeper.pruner), load_if_exists=True)
    seed = sweeper.sampler.seed
    seed = None if seed is None else seed + len(study.trials)  # a resumed search does not repeat its first asks
    sampler = optuna.samplers.RandomSampler if sweeper.sampler.name == "random" else optuna.samplers.TPESampler
    study.sampler = sampler(seed=seed)
    return study


def distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    return {param.name: _distribution(param) for param in space.params}


def _distribution(param: Param) -> BaseDistribution:
    if param.kind == "choice":
        return CategoricalDistribution(param.choices)
    if param.kind == "int":
        return IntDistribution(int(param.low), int(param.high), step=param.step or 1)
    return FloatDistribution(param.low, param.high, log=param.log)


def trials_left(study: optuna.Study, n_trials: int) -> int:
    """Mark trials a kill left running as failed, queue their slots again; the number of trials still to ask."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # left by a kill
        study.tell(trial.number, state=TrialState.FAIL)
    latest = _latest_per_slot(study)
    queued = {trial.user_attrs[JOB] for trial in latest.values() if trial.state == TrialState.WAITING}
    for slot, trial in sorted(latest.items()):
        if not _ran_to_an_end(trial) and trial.state != TrialState.WAITING and slot not in queued:
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
    status = record.get("status")
    trial.set_user_attr(STATUS, status)
    value = record.get(OBJECTIVE)
    if status == "ok" and value is not None and not math.isnan(value):
        study.tell(trial, values=float(value))
    elif status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    else:
        trial.set_user_attr(ERROR, record.get("error"))
        study.tell(trial, state=TrialState.FAIL)


def job_trial(hydra_cfg: DictConfig) -> Trial | None:
    """In a job of a search: its running trial, to report each epoch to; None if the study has no such trial."""
    storage = open_storage(storage_url(hydra_cfg.sweeper, Path(hydra_cfg.sweep.dir)))
    study = optuna.load_study(study_name=hydra_cfg.sweeper.study_name, storage=storage,
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
