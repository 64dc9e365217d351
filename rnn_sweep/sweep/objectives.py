"""What a search optimizes: one or more record columns, each with its direction. No Optuna here.

`hydra.sweeper.direction` is one direction or a list; `hydra.sweeper.objectives` names the record column of each
(default: best_val_accuracy alone). Several objectives make a multi-objective study, whose answer is a Pareto
front of trials rather than one best trial; Optuna cannot prune such a study, so its trials run all their epochs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig

from hydra_plugins.rnn_sweep_optuna.config import DEFAULT_OBJECTIVE, DIRECTIONS
from rnn_sweep.errors import ConfigError

# The record columns that measure a run, as numbers: what a trial can be scored by.
OBJECTIVE_COLUMNS = (
    "best_val_accuracy", "test_accuracy", "test_loss", "last_val_accuracy", "epoch_seconds", "first_epoch_seconds",
    "train_seconds", "eval_seconds", "setup_seconds", "train_samples_per_second", "eval_samples_per_second",
    "epoch_seconds_iqr", "epochs_completed",
)


def directions(sweeper: DictConfig) -> list[str]:
    direction = sweeper.get("direction")
    return [str(item) for item in direction] if isinstance(direction, ListConfig | list) else [str(direction)]


def objective_names(sweeper: DictConfig) -> list[str]:
    names = sweeper.get("objectives")
    if names is None:
        return [DEFAULT_OBJECTIVE]
    return [str(item) for item in names] if isinstance(names, ListConfig | list) else [str(names)]


def prunes(sweeper: DictConfig) -> bool:
    """Whether the search's jobs report epochs to a pruner: not with several objectives, nor with pruner none."""
    return len(directions(sweeper)) == 1 and sweeper.pruner.name != "none"


def check_objectives(sweeper: DictConfig) -> None:
    """ConfigError (one paragraph) unless each objective is a measured record column with a direction."""
    wanted = directions(sweeper)
    for direction in wanted:
        if direction not in DIRECTIONS:
            raise ConfigError(f"hydra.sweeper.direction={direction} is not allowed: use one of "
                              f"{', '.join(DIRECTIONS)}, or a list of them (one per objective), e.g. "
                              "hydra.sweeper.direction=[maximize,minimize]. Nothing was run.")
    names = objective_names(sweeper)
    for name in names:
        if name not in OBJECTIVE_COLUMNS:
            raise ConfigError(f"hydra.sweeper.objectives names {name!r}, which is not a record column a trial can "
                              f"be scored by: use some of {', '.join(OBJECTIVE_COLUMNS)}. Nothing was run.")
    if len(names) != len(wanted) or len(set(names)) != len(names):
        raise ConfigError(f"hydra.sweeper.objectives={names} and hydra.sweeper.direction={wanted} do not pair up: "
                          "give each objective once, and one direction per objective, e.g. "
                          "hydra.sweeper.direction=[maximize,minimize] "
                          "hydra.sweeper.objectives=[test_accuracy,epoch_seconds]. Nothing was run.")


def objective_values(record: Mapping[str, Any], names: list[str]) -> list[float] | None:
    """The trial's score, one value per objective; None if the record lacks one (or it is not a finite number)."""
    values = []
    for name in names:
        value = record.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            return None
        values.append(float(value))
    return values
