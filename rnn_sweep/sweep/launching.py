"""What this project's Hydra sweepers share: the config and the configured launcher, and a sweep folder holding
multirun.yaml before the first job starts (resume, progress and the report read it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from rnn_sweep.record.columns import MULTIRUN_FILE


class LaunchingSweeper(Sweeper):
    """Hydra builds a subclass from `hydra.sweeper`; `sweep` reads the keys from the config, resolved, instead."""

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

    def sweep_folder(self) -> Path:
        """hydra.sweep.dir, made, with the sweep's config saved in it as multirun.yaml."""
        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / MULTIRUN_FILE)
        return sweep_dir
