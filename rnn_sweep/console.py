"""Terminal output shared by the commands: errors as one plain paragraph, tables at their whole width in a log,
and the live display inside an epoch. (What a run's record shows is in report/run_console.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rich.console import Console, RenderableType
from rich.measure import Measurement
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

_UNBOUNDED = 100_000  # columns: a width no table reaches
# Soft wrap keeps each message on one logical line, so terminals, logs and `grep` see it whole.
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def print_whole(table: Table, console: Console = stdout) -> None:
    """A table as wide as its content where the output is a pipe or a file (a CI log): a terminal's table fits the
    window, but a log has no window, and rich's default 80 columns there would cut cells to `…`."""
    if console.is_terminal:
        console.print(table)
        return
    wide = console.options.update(width=_UNBOUNDED, max_width=_UNBOUNDED)
    captions = str(table.caption or "").splitlines() + str(table.title or "").splitlines()
    width = max([Measurement.get(console, wide, table).maximum, *map(len, captions)])
    Console(file=console.file, soft_wrap=True, width=width, no_color=console.no_color).print(table)


def print_error(message: str) -> None:
    stderr.print(Text("error: ", style="bold red") + Text(message))


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
