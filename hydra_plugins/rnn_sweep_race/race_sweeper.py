"""The Hydra Sweeper: hands the grid and the launcher to rnn_sweep.sweep.race, which runs the race round by round."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

MULTIRUN_FILE = "multirun.yaml"


class RaceSweeper(Sweeper):
    """Hydra builds it from `hydra.sweeper` (config.RaceSweeperConf); `sweep` reads the keys from the config."""

    def __init__(self, **settings: Any) -> None:
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
        from rnn_sweep.sweep.race import run_race

        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / MULTIRUN_FILE)
        return run_race(self.config.hydra.sweeper, sweep_dir, arguments, self.launcher.launch)
