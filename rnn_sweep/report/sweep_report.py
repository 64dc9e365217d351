"""A sweep's report, computed once and rendered many times: the tables are computed into one SweepTables, then
written as CSV files, plots, report.html and TensorBoard's HParams view; the terminal prints the same object.

Reading from disk (not from the launcher's return values) is what makes this work for jobs that ran in other
processes or on other machines, and what lets `rnn-sweep report` rebuild the same files later.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from rnn_sweep.errors import UserError
from rnn_sweep.report.frontier import DEFAULT_MARGIN
from rnn_sweep.report.html import write_sweep_page
from rnn_sweep.report.plots import write_sweep_plots
from rnn_sweep.report.tables import SweepTables, sweep_tables, varied_columns, write_csv_tables
from rnn_sweep.report.tensorboard_hparams import write_hparams

try:
    import fcntl
except ImportError:  # Windows: no flock, so aggregations there are not serialised
    fcntl = None

LOCK_FILE = ".aggregate.lock"


def write_sweep_report(sweep_dir: Path, margin: float = DEFAULT_MARGIN) -> SweepTables:
    """Write results.csv, accuracy.csv, timing.csv, summary.csv, presets.csv (of preset runs), the plots,
    report.html and the TensorBoard HParams view (when the jobs logged there) into `sweep_dir`, from its jobs'
    results; answer the tables, for the terminal."""
    sweep_dir = Path(sweep_dir)
    with _one_aggregation_at_a_time(sweep_dir):
        tables = sweep_tables(sweep_dir, margin)
        if not tables.results.empty:
            write_csv_tables(tables)
            write_sweep_plots(sweep_dir, tables.results, tables.summary)
            write_sweep_page(tables, varied_columns(tables.results))  # after the plots: the page shows them
        write_hparams(sweep_dir, tables.results)
    return tables


def unwritable_sweep(sweep_dir: Path, error: OSError) -> UserError:
    """The error of a sweep folder that refuses the tables (read-only, immutable, full): what to do instead."""
    return UserError(
        f"Cannot write the tables into {sweep_dir} ({error.strerror}). They are rebuilt inside the sweep "
        "folder, so it must be writable: copy the folder somewhere writable and run `rnn-sweep report` there."
    )


@contextmanager
def _one_aggregation_at_a_time(sweep_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the sweep folder's lock file while its results are read and the tables written.

    Each file is written atomically anyway; the lock keeps two launchers that finish together (or a `report`
    beside a launcher) from writing a table read before the other's newest job over the other's newer table.
    """
    lock = sweep_dir / LOCK_FILE
    try:
        lock.touch()
    except OSError as error:
        raise unwritable_sweep(sweep_dir, error) from None
    with open(lock, "a") as handle:  # closing it releases the lock
        if fcntl is not None:
            with suppress(OSError):  # a file system without locks (some NFS or Lustre mounts): go on unserialised
                fcntl.flock(handle, fcntl.LOCK_EX)
        yield
