"""The sweeper's config, registered as `hydra/sweeper=optuna`; the keys users set under `hydra.sweeper`.

The keys and the sampler groups (`hydra/sweeper/sampler=<name>`) are those of hydra-optuna-sweeper, so its configs
run here; `objectives` and `pruner` are rnn-sweep's own. No `from __future__ import annotations` here: Hydra's
plugin scan runs this module before it is in sys.modules, where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from rnn_sweep.search.settings import DEFAULT_SEED, SAMPLER_GROUPS, SWEEPER_TARGET


@dataclass
class PrunerConf:
    name: str = "median"  # median, or none to let every trial run all its epochs
    n_startup_trials: int = 5  # no pruning until this many trials have finished
    n_warmup_steps: int = 0  # epochs a trial runs before it can be pruned (0: from its first epoch on)


@dataclass
class OptunaSweeperConf:
    _target_: str = SWEEPER_TARGET
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])
    # {_target_: optuna.samplers.<Name>, seed: 42, ...any argument of that class}; a resumed search seeds it with
    # seed + the trials already in the study, so it does not repeat them.
    sampler: Any = MISSING
    direction: Any = "maximize"  # maximize or minimize, or a list of them, one per objective
    # The record columns the trials are scored by (null: best_val_accuracy), one per direction.
    objectives: Any = None
    study_name: str | None = "rnn_sweep"  # null: rnn_sweep too, so a resumed search finds its study
    # A database URL (e.g. postgresql://...); null: the sweep folder's optuna.journal (its optuna.db if it has one),
    # so the same sweep folder resumes the study (rnn_sweep/search/study_storage.py).
    storage: Any = None
    n_trials: int = 20  # in all, counting the trials a resumed study already finished
    n_jobs: int = 1  # trials asked for at once and handed to the launcher together (parallel with joblib etc.)
    pruner: PrunerConf = field(default_factory=PrunerConf)
    # key: search space in Hydra's sweep syntax (docs/search.md has the table of forms); a plain value fixes the key.
    params: dict[str, Any] | None = None
    # `module.function`, called as function(cfg, trial) for every trial to suggest more params (a conditional space).
    custom_search_space: str | None = None


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="rnn_sweep")
for _name, _target in SAMPLER_GROUPS.items():
    ConfigStore.instance().store(group="hydra/sweeper/sampler", name=_name,
                                 node={"_target_": _target, "seed": DEFAULT_SEED}, provider="rnn_sweep")
