"""The Hydra Sweeper: asks Optuna for trials, has the launcher run them as jobs, tells Optuna how each ended."""

from __future__ import annotations

from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    """Hydra builds it from `hydra.sweeper` (config.OptunaSweeperConf); the search itself is rnn_sweep.search."""

    def __init__(self, **settings: Any) -> None:
        """`settings` are `hydra.sweeper`'s keys; `sweep` reads them from the config, resolved, instead."""
        super().__init__()
        self.config: DictConfig | None = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[Any]:
        from rnn_sweep.search.trials import run_search  # Optuna is imported there, when a search starts

        assert self.config is not None and self.launcher is not None
        return run_search(self.config, self.launcher, arguments)
