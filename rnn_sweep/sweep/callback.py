"""The Hydra callback that ends every multirun with the sweep's tables (configured in conf/config.yaml).

Hydra makes it as every command starts, single runs included, so the report's modules (pandas, matplotlib,
statsmodels, TensorBoard's: over a second to import) are imported only for a sweep: when its tables are written, or,
where its jobs train in other processes (joblib, submitit, SLURM), while this one waits for them, so that the sweep's
end does not wait for the import.
"""

from __future__ import annotations

import errno
import importlib
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rnn_sweep import COMMAND_STARTED, atomic
from rnn_sweep.console import stdout
from rnn_sweep.errors import NoRoomForRecord
from rnn_sweep.record.columns import MULTIRUN_FILE, SWEEP_TIMING_FILE
from rnn_sweep.sweep.launchers import launcher_traits

if TYPE_CHECKING:
    from rnn_sweep.report.tables import SweepTables

# For the CLI: the sweep folders of the multiruns this process started (Hydra skips on_multirun_end when Ctrl-C
# stops one, so the CLI writes their tables itself), and the tables of those that ended (for the exit status).
started_sweeps: list[Path] = []
finished_sweeps: list[SweepTables] = []
# The sweeps whose tables could not be written, and why: Hydra turns a callback's error into a mere warning, so
# the CLI reads them here and exits non-zero naming them.
aggregation_errors: dict[Path, Exception] = {}
# The report's modules, imported while a sweep's jobs train in other processes. Kept here, not on the callback: a
# launcher sends the callback to its workers with each job, and a thread cannot be pickled.
_report_import: threading.Thread | None = None


class AggregateSweep(Callback):
    """Runs in the process that launched the sweep, once every job has ended, wherever the jobs ran."""

    def __init__(self) -> None:
        self._start_seconds: float | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir).resolve()
        _save_sweep_config(config, sweep_dir)
        started_sweeps.append(sweep_dir)
        self._start_seconds = time.time() - COMMAND_STARTED
        traits = launcher_traits(config.hydra.launcher)
        if traits.side_by_side and not traits.launching_process_trains:  # else its launcher does, once it is idle
            _import_report_meanwhile()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir).resolve()
        end_start = time.perf_counter()
        if _report_import is not None:
            _report_import.join()
        try:
            finished_sweeps.append(aggregate(sweep_dir))
        except Exception as error:  # noqa: BLE001 - whatever it is, the exit status must say so
            aggregation_errors[sweep_dir] = error
        # So a user sees where a slow sweep's own time goes: before its first job, and its tables at the end.
        try:
            atomic.write_json(sweep_dir / SWEEP_TIMING_FILE, {"start_seconds": self._start_seconds,
                                                              "end_seconds": time.perf_counter() - end_start})
        except OSError as error:  # a full disk, a read-only folder: named by the exit status, not Hydra's warning
            aggregation_errors.setdefault(sweep_dir, error)


REPORT_MODULE = "rnn_sweep.report.sweep_report"


def _import_report_meanwhile() -> None:
    global _report_import
    if _report_import is None and REPORT_MODULE not in sys.modules:
        _report_import = threading.Thread(target=import_report, name="report-import", daemon=True)
        _report_import.start()


def import_report() -> None:
    """Import the report's modules (over a second) ahead of the sweep's end, where a process has time to spare; an
    error is left for the import where they are used to raise and report."""
    with suppress(Exception):  # raised again, and reported, by aggregate's own import
        importlib.import_module(REPORT_MODULE)


def _save_sweep_config(config: DictConfig, sweep_dir: Path) -> None:
    """multirun.yaml, written as the sweeper writes it next (in place: a file already there needs no new inode): the
    sweeper gives a traceback when the disk has no room for it, this stops the command in one line before any job
    and leaves no half-written new file."""
    path = sweep_dir / MULTIRUN_FILE
    existed = path.exists()
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, path)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        if not existed:
            path.unlink(missing_ok=True)
        raise NoRoomForRecord(f"the sweep {sweep_dir} did not start: {path} could not be written "
                              f"({error.strerror})") from None


def aggregate(sweep_dir: Path) -> SweepTables:
    """Write the sweep's tables (and its TensorBoard HParams view, when its jobs logged there) from what its job
    folders hold now, and print them."""
    from rnn_sweep.report.sweep_report import write_sweep_report
    from rnn_sweep.report.tables import print_sweep_tables

    tables = write_sweep_report(sweep_dir)
    print_sweep_tables(tables, stdout)
    return tables
