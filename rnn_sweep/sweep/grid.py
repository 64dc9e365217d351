"""`hydra/sweeper=basic`, Hydra's default: its grid sweeper, less a second composition of every job.

Before Hydra starts, rnn_sweep.launch.preflight composes and validates every job the command line asks for, and
stops the command on the first that could not run. Hydra's sweeper then composes each job of a batch once more
(`validate_batch_is_legal`) before handing the batch to the launcher, which composes it again to run it: the
middle composition is the same check twice, about 0.1 s a job. The sweeper is
hydra_plugins/rnn_sweep_grid (Hydra takes sweepers only from the hydra_plugins namespace).
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from omegaconf import open_dict

GRID_SWEEPER = "hydra_plugins.rnn_sweep_grid.grid_sweeper.GridSweeper"
# Every sweeper that launches a grid of jobs: this one and Hydra's own, which sweeps made before name in their
# multirun.yaml (and a config may name).
GRID_SWEEPERS = (GRID_SWEEPER, "hydra._internal.core_plugins.basic_sweeper.BasicSweeper")


def register_grid_sweeper() -> None:
    """Make `hydra/sweeper=basic` that sweeper: Hydra's node stored again with its class as the `_target_`, after
    Hydra's plugin scan (which stores Hydra's own node again as it runs its core plugins, once per process)."""
    Plugins.instance()
    store = ConfigStore.instance()
    node = store.load("hydra/sweeper/basic.yaml").node  # a copy
    with open_dict(node):
        node._target_ = GRID_SWEEPER
    store.store(group="hydra/sweeper", name="basic", node=node, provider="rnn_sweep")
