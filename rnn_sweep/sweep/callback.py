"""The Hydra callback that ends every multirun with the sweep's tables (configured in conf/config.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rnn_sweep.console import stdout
from rnn_sweep.results.tables import SweepTables, print_sweep_tables, write_sweep_tables
from rnn_sweep.sweep.hparams import write_hparams

# For the CLI: the sweep folders of the multiruns this process started (Hydra skips on_multirun_end when Ctrl-C
# stops one, so the CLI writes their tables itself), and the tables of those that ended (for the exit status).
started_sweeps: list[Path] = []
finished_sweeps: list[SweepTables] = []


class AggregateSweep(Callback):
    """Runs in the process that launched the sweep, once every job has ended, wherever the jobs ran."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        started_sweeps.append(Path(config.hydra.sweep.dir).resolve())

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        finished_sweeps.append(aggregate(Path(config.hydra.sweep.dir).resolve()))


def aggregate(sweep_dir: Path) -> SweepTables:
    """Write the sweep's tables (and its TensorBoard HParams view, when its jobs logged there) from what its job
    folders hold now, and print them."""
    tables = write_sweep_tables(sweep_dir)
    write_hparams(sweep_dir, tables.results)
    print_sweep_tables(tables, stdout)
    return tables
