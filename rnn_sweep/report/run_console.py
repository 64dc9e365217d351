"""One run on the terminal: the summary box of a single run, the one line a sweep prints per finished job, and
the test accuracy after each evaluation step. Labels and number formats come from the column table."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rnn_sweep.console import stdout
from rnn_sweep.record.columns import ACCURACY, STEPS_COLUMNS, label, show, shown_in


def print_run_summary(record: dict[str, Any], console: Console = stdout) -> None:
    """The columns of the `run` view that the record fills (a preset's, an error's only where it has one), the run
    folder last."""
    table = Table(title="rnn-sweep run", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    columns = sorted(shown_in("run"), key=lambda column: column.name == "run_dir")
    for column in columns:
        value = record.get(column.name)
        if value is not None and value != "":
            table.add_row(column.label, Text(column.show(value)))
    console.print(table)


def job_line(record: dict[str, Any], position: str = "") -> str:
    """A sweep's finished job on one line (the full summary box is for a single run): setting, seed, test accuracy,
    median epoch time, folder; and the status with its error where it did not end ok."""
    setting = (f"{record.get('cell')}-{record.get('units')} bs{record.get('batch_size')} {record.get('optimizer')}"
               f" lr{show('learning_rate', record.get('learning_rate'))}")
    parts = [f"done {position}".rstrip(), setting, f"seed {record.get('seed')}"]
    if record.get("status") == "ok":
        parts += [f"{label(name)} {show(name, record.get(name))}" for name in (ACCURACY, "epoch_seconds")
                  if record.get(name) is not None]
    else:
        parts.append(f"{record.get('status')}: {record.get('error')}")
    return " · ".join([*parts, str(record.get("run_dir"))])


def print_steps_table(steps_csv: Path, console: Console = stdout) -> None:
    """The test accuracy after each evaluation step (steps.csv), beside what the preset's tutorial printed there."""
    with steps_csv.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    table = Table(title=f"test set during training ({steps_csv})", title_justify="left")
    for name in STEPS_COLUMNS:
        table.add_column(label(name), justify="right")
    for row in rows:
        table.add_row(row["step"], *(show(name, float(row[name]) if row.get(name) else None)
                                     for name in STEPS_COLUMNS[1:]))
    console.print(table)
