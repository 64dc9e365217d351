"""The Hydra Sweeper: hands the grid and the launcher to rnn_sweep.sweep.race, which runs the race round by round."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnn_sweep.sweep.launching import LaunchingSweeper

if TYPE_CHECKING:
    from rnn_sweep.sweep.race import Finished


class RaceSweeper(LaunchingSweeper):
    """Hydra builds it from `hydra.sweeper` (config.RaceSweeperConf)."""

    def sweep(self, arguments: list[str]) -> list[Any]:
        from rnn_sweep.sweep.race import run_race

        sweep_dir = self.sweep_folder()
        return run_race(self.config.hydra.sweeper, sweep_dir, arguments, self.launcher.launch,
                        self._finished_in(sweep_dir))

    def _finished_in(self, sweep_dir: Path) -> Finished:
        """A job's `ok` record already in the sweep folder (a killed race run again), found by the identity of the
        config its overrides compose to, as a plain sweep's resume finds it; None for a job still to train."""
        from rnn_sweep.sweep.resume import finished_records, task_identity

        records = finished_records(sweep_dir)

        def finished(overrides: list[str]) -> dict[str, Any] | None:
            if not records:  # a fresh race: nothing to compose
                return None
            composed = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
            return records.get(task_identity(composed) or "")

        return finished
