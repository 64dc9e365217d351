"""`hydra.sweeper.custom_search_space`: a `module.function(cfg, trial)` that suggests more params for each trial
(a conditional space, e.g. bidirectional only for some cells), called as hydra-optuna-sweeper calls it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from rnn_sweep.errors import ConfigError

CustomSpace = Callable[[DictConfig, Any], None]


def custom_space_function(sweeper: DictConfig) -> CustomSpace | None:
    """The function `hydra.sweeper.custom_search_space` names; None when not set, ConfigError when it names none."""
    path = sweeper.get("custom_search_space")
    if not path:
        return None
    from hydra.utils import get_method

    try:
        return get_method(str(path))
    except Exception as error:  # Hydra wraps the import error; its cause says which part is missing
        why = " ".join(str(error.__cause__ or error).split())
        raise ConfigError(f"hydra.sweeper.custom_search_space={path} names no function ({why}): give a "
                          "module.function importable from the working folder, called as function(cfg, trial) "
                          "to suggest more params. Nothing was run.") from None


def extend_trial(function: CustomSpace | None, cfg: DictConfig, trial: Any, overrides: list[str]) -> list[str]:
    """The job's overrides with the params `function` suggested for `trial` added after them."""
    if function is None:
        return overrides
    function(cfg, trial)
    given = {override.split("=", 1)[0].lstrip("+~") for override in overrides}
    return [*overrides, *(f"{name}={value}" for name, value in trial.params.items() if name not in given)]
