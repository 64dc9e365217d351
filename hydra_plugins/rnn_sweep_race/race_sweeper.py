"""The Hydra Sweeper: hands the grid and the launcher to rnn_sweep.sweep.race, which runs the race round by round."""

from __future__ import annotations

from typing import Any

from rnn_sweep.sweep.launching import LaunchingSweeper


class RaceSweeper(LaunchingSweeper):
    """Hydra builds it from `hydra.sweeper` (config.RaceSweeperConf)."""

    def sweep(self, arguments: list[str]) -> list[Any]:
        from rnn_sweep.sweep.race import run_race

        sweep_dir = self.sweep_folder()
        return run_race(self.config.hydra.sweeper, sweep_dir, arguments, self.launcher.launch)
