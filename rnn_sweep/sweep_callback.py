"""The Hydra callback that ends every multirun with the sweep's tables (configured in conf/config.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rnn_sweep.aggregate import print_sweep_tables, write_sweep_tables
from rnn_sweep.console import stdout

# (sweep folder, results) of each multirun this process finished, for the CLI's exit status.
finished_sweeps: list[tuple[Path, pd.DataFrame]] = []


class AggregateSweep(Callback):
    """Runs in the process that launched the sweep, once every job has ended, wherever the jobs ran."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir).resolve()
        results = write_sweep_tables(sweep_dir)
        print_sweep_tables(results, sweep_dir, stdout)
        finished_sweeps.append((sweep_dir, results))
