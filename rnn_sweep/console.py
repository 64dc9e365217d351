"""Terminal output shared by the commands: errors as one plain paragraph, the run summary table, and the live
display inside an epoch."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

# Soft wrap keeps each message on one logical line, so terminals, logs and `grep` see it whole.
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def print_error(message: str) -> None:
    stderr.print(Text("error: ", style="bold red") + Text(message))


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


SUMMARY_FIELDS = (
    ("status", "status"), ("preset", "preset"), ("data", "data"), ("cell", "cell"), ("units", "units"),
    ("params", "params"), ("batch_size", "batch size"), ("optimizer", "optimizer"), ("learning_rate", "learning rate"),
    ("train_samples", "train images"), ("epochs_completed", "epochs"), ("evaluations", "test evaluations"),
    ("test_accuracy", "test accuracy"), ("reported_test_accuracy", "reported test accuracy"),
    ("test_loss", "test loss"), ("best_val_accuracy", "best val accuracy"), ("validation", "validation"),
    ("first_epoch_seconds", "first epoch s"),
    ("epoch_seconds", "epoch s (median)"), ("train_samples_per_second", "train samples/s"),
    ("eval_samples_per_second", "eval samples/s"), ("train_seconds", "train s"), ("device", "device"),
    ("error", "error"), ("run_dir", "run folder"),
)


def print_run_summary(record: dict[str, Any], console: Console = stdout) -> None:
    table = Table(title="rnn-sweep run", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, label in SUMMARY_FIELDS:
        if key == "error" and not record.get(key):
            continue
        if key in ("preset", "reported_test_accuracy", "evaluations") and record.get(key) is None:
            continue
        table.add_row(label, Text(_format(record.get(key))))
    console.print(table)


def job_line(record: dict[str, Any], position: str = "") -> str:
    """A sweep's finished job on one line (the full summary box is for a single run): setting, seed, test accuracy,
    median epoch time, folder; and the status with its error where it did not end ok."""
    learning_rate = record.get("learning_rate")
    rate = f"{learning_rate:.6g}" if isinstance(learning_rate, float) else str(learning_rate)
    setting = (f"{record.get('cell')}-{record.get('units')} bs{record.get('batch_size')} {record.get('optimizer')}"
               f" lr{rate}")
    parts = [f"done {position}".rstrip(), setting, f"seed {record.get('seed')}"]
    if record.get("status") == "ok":
        parts.append(f"test accuracy {_format(record.get('test_accuracy'))}")
        if record.get("epoch_seconds") is not None:
            parts.append(f"epoch {record['epoch_seconds']:.2f} s")
    else:
        parts.append(f"{record.get('status')}: {record.get('error')}")
    return " · ".join([*parts, str(record.get("run_dir"))])


@dataclass(frozen=True)
class LiveProgress:
    """A run's live display inside each epoch, for an interactive terminal only (never a log file or a worker).

    `header` gives the line drawn above the epoch's bar (a sweep's position); it is called at every redraw.
    """

    header: Callable[[], str] | None = None
    refresh_per_second: float = 2.0  # the clocks show whole seconds; each redraw costs a few ms of CPU


def live_progress_allowed(console: Console, parallel_jobs: bool) -> bool:
    """Only one process may own a terminal's live display: not jobs that run side by side, not a pipe or a file."""
    return console.is_interactive and not parallel_jobs


class _HeadedProgress(Progress):
    """rich's Progress with a line above its bars, redrawn with them."""

    def __init__(self, *columns: Any, header: Callable[[], str] | None, **kwargs: Any) -> None:
        self.header = header  # before rich's __init__, which may draw already
        super().__init__(*columns, **kwargs)

    def get_renderables(self) -> Iterable[RenderableType]:
        if self.header is not None:
            yield Text(self.header(), style="bold")
        yield self.make_tasks_table(self.tasks)


def epoch_display(console: Console, live: LiveProgress) -> Progress:
    """Steps done of the epoch's total, elapsed, ETA and the running loss and accuracy; cleared when stopped."""
    return _HeadedProgress(
        TextColumn("[cyan]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"),
        header=live.header, console=console, transient=True, refresh_per_second=live.refresh_per_second,
    )


def print_steps_table(steps_csv: Path, console: Console = stdout) -> None:
    """The test accuracy after each evaluation step (steps.csv), beside what the preset's tutorial printed there."""
    with steps_csv.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    table = Table(title=f"test set during training ({steps_csv})", title_justify="left")
    for header in ("step", "test loss", "test accuracy", "reported test accuracy"):
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(row["step"], f"{float(row['test_loss']):.4f}", f"{float(row['test_accuracy']):.4f}",
                      row.get("reported_test_accuracy") or "-")
    console.print(table)
