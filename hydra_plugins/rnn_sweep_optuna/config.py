"""The sweeper's config, registered as `hydra/sweeper=optuna`; the keys users set under `hydra.sweeper`.

No `from __future__ import annotations` here: Hydra's plugin scan runs this module before it is in sys.modules,
where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from rnn_sweep.search.settings import SWEEPER_TARGET


@dataclass
class SamplerConf:
    name: str = "tpe"  # tpe or random
    # A resumed search seeds its sampler with seed + the trials already in the study, so it does not repeat them.
    seed: int | None = 42


@dataclass
class PrunerConf:
    name: str = "median"  # median, or none to let every trial run all its epochs
    n_startup_trials: int = 5  # no pruning until this many trials have finished
    n_warmup_steps: int = 0  # epochs a trial runs before it can be pruned (0: from its first epoch on)


@dataclass
class OptunaSweeperConf:
    _target_: str = SWEEPER_TARGET
    direction: str = "maximize"  # of the objective, the run's best validation accuracy
    study_name: str = "rnn_sweep"
    # An Optuna storage URL; null: sqlite:///<sweep folder>/optuna.db, so the same sweep folder resumes the study.
    storage: str | None = None
    n_trials: int = 20  # in all, counting the trials a resumed study already finished
    n_jobs: int = 1  # trials asked for at once and handed to the launcher together (parallel with joblib etc.)
    sampler: SamplerConf = field(default_factory=SamplerConf)
    pruner: PrunerConf = field(default_factory=PrunerConf)
    # key: search space in Hydra's sweep syntax: choice(a,b), a,b, interval(lo,hi), tag(log,interval(lo,hi)),
    # range(lo,hi,step) of ints; a plain value fixes the key for every trial.
    params: dict[str, str] | None = None


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="rnn_sweep")
