"""Terminal output shared by the commands: errors as one plain paragraph, and the run summary table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
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
    ("status", "status"), ("preset", "preset"), ("cell", "cell"), ("units", "units"), ("params", "params"),
    ("batch_size", "batch size"), ("optimizer", "optimizer"), ("learning_rate", "learning rate"),
    ("epochs_completed", "epochs"), ("test_accuracy", "test accuracy"),
    ("reported_test_accuracy", "reported test accuracy"), ("test_loss", "test loss"),
    ("best_val_accuracy", "best val accuracy"), ("first_epoch_seconds", "first epoch s"),
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
        if key in ("preset", "reported_test_accuracy") and record.get(key) is None:
            continue
        table.add_row(label, Text(_format(record.get(key))))
    console.print(table)
