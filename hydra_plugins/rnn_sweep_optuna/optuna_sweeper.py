"""The Hydra Sweeper: asks Optuna for trials, has the launcher run them as jobs, tells Optuna how each ended."""

from __future__ import annotations

from typing import Any

from rnn_sweep.sweep.launching import LaunchingSweeper


class OptunaSweeper(LaunchingSweeper):
    """Hydra builds it from `hydra.sweeper` (config.OptunaSweeperConf); the search itself is rnn_sweep.search."""

    def sweep(self, arguments: list[str]) -> list[Any]:
        from rnn_sweep.search.trials import run_search  # Optuna is imported there, when a search starts

        assert self.config is not None and self.launcher is not None
        return run_search(self.config, self.launcher, arguments)
