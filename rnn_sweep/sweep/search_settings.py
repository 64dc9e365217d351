"""The search's settings under `hydra.sweeper` besides its space, checked before any trial runs (exit 2)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.rnn_sweep_optuna.config import PRUNERS
from rnn_sweep.errors import ConfigError
from rnn_sweep.sweep.custom_space import custom_space_function
from rnn_sweep.sweep.objectives import check_objectives
from rnn_sweep.sweep.samplers import check_sampler


def check_settings(sweeper: DictConfig) -> None:
    check_objectives(sweeper)
    if sweeper.pruner.name not in PRUNERS:
        raise ConfigError(f"hydra.sweeper.pruner.name={sweeper.pruner.name} is not allowed: use one of "
                          f"{', '.join(PRUNERS)}.")
    for key in ("n_trials", "n_jobs", "pruner.n_startup_trials", "pruner.n_warmup_steps"):
        value = OmegaConf.select(sweeper, key)
        least = 0 if key.startswith("pruner") else 1
        if not isinstance(value, int) or value < least:
            raise ConfigError(f"hydra.sweeper.{key}={value} is not allowed: it must be an int >= {least}.")
    check_sampler(sweeper.get("sampler"))
    custom_space_function(sweeper)
