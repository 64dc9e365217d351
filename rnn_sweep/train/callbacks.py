"""Keras callbacks of a run: epoch timing, the history file, terminal progress (live on a terminal), divergence,
search pruning, and where a stop signal may end the fit."""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
from rich.console import Console
from rich.progress import Progress, TaskID

from rnn_sweep import atomic, stopping
from rnn_sweep.console import LiveProgress, epoch_display
from rnn_sweep.record.columns import HISTORY_COLUMNS, STEPS_COLUMNS


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` to each epoch's logs; list it first so later callbacks see it.

    It also keeps the training part of each epoch apart (up to the validation pass), so samples per
    second measure training alone, notes when the first training step began (the end of start-up), and
    counts each epoch's process CPU seconds: CPU time well below wall time x threads means the run waited
    (for cores other processes held, say), which is how a reader tells timing noise from a slow setting.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.training_seconds: list[float] = []
        self.cpu_seconds: list[float] = []
        self.first_step_at: float | None = None
        self._start = 0.0
        self._cpu_start = 0.0
        self._training_end: float | None = None

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.first_step_at is None:
            self.first_step_at = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._training_end = None
        self._cpu_start = time.process_time()
        self._start = time.perf_counter()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._training_end is None:
            self._training_end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        end = time.perf_counter()
        self.cpu_seconds.append(time.process_time() - self._cpu_start)
        self.seconds.append(end - self._start)
        self.training_seconds.append((self._training_end or end) - self._start)
        if logs is not None:
            logs["epoch_seconds"] = end - self._start


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback (epoch scalars), whose tags are `epoch_<log key>`: `epoch_seconds` is logged as
    `seconds`, so its tag reads `epoch_seconds`, not `epoch_epoch_seconds`."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {key.removeprefix("epoch_") if key == "epoch_seconds" else key: value
                for key, value in (logs or {}).items()}
        super().on_epoch_end(epoch, logs)


class HistoryWriter(keras.callbacks.Callback):
    """Rewrites history.csv after every epoch, so an interrupted run keeps the epochs it finished."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.rows: list[dict[str, Any]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self.rows.append({"epoch": epoch + 1, **{key: logs.get(key) for key in HISTORY_COLUMNS[1:]}})
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic.write_text(self.path, buffer.getvalue())

    def epochs_on_disk(self) -> int:
        """The epochs history.csv holds: what a record may count as finished, even when a Ctrl-C came in the
        middle of this callback (after the file was replaced, or before)."""
        try:
            return max(0, len(self.path.read_text(encoding="utf-8").splitlines()) - 1)
        except FileNotFoundError:
            return 0


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch: readable live in a terminal and in a cluster job's log file alike.

    With `live` (an interactive terminal) a progress display runs inside each epoch too, and the epoch's line
    replaces it. Keras calls the batch hook once per execution (steps_per_execution steps); the display is
    updated at most `live.refresh_per_second` times a second, and at an epoch's last step.
    """

    SHOWN = (("loss", "loss"), ("accuracy", "acc"), ("val_loss", "val_loss"), ("val_accuracy", "val_acc"))

    def __init__(self, console: Console, epochs: int, label: str, live: LiveProgress | None = None) -> None:
        super().__init__()
        self.console = console
        self.epochs = epochs
        self.label = label
        self.live = live
        self._display: Progress | None = None
        self._task: TaskID | None = None
        self._next_update = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.live is not None:
            self._display = epoch_display(self.console, self.live)
            self._display.start()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._display is not None:
            self._task = self._display.add_task(f"{self.label} epoch {epoch + 1}/{self.epochs}",
                                                total=self.params["steps"], metrics="")
            self._next_update = 0.0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._task is None:
            return
        now, done = time.monotonic(), min(batch + 1, self.params["steps"])
        if now < self._next_update and done < self.params["steps"]:
            return
        self._next_update = now + 1 / self.live.refresh_per_second
        # The last step is drawn at once: validation may end the epoch before the next redraw.
        self._display.update(self._task, completed=done, metrics=self._metrics(logs or {}, plain=True),
                             refresh=done == self.params["steps"])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._task is not None:
            self._display.remove_task(self._task)
            self._display.refresh()  # the line below replaces the bar, which must not be redrawn under it
            self._task = None
        seconds = (logs or {}).get("epoch_seconds", float("nan"))
        self.console.print(f"[cyan]{self.label}[/] epoch {epoch + 1}/{self.epochs}  "
                           f"{self._metrics(logs or {})}  {seconds:.1f}s")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live display; Keras skips on_train_end when fit raises, so the runner calls this as well."""
        if self._display is not None:
            self._display.stop()
            self._display, self._task = None, None

    def _metrics(self, logs: dict[str, Any], plain: bool = False) -> str:
        style = "{name} {value:.4f}" if plain else "{name} [bold]{value:.4f}[/]"
        return " ".join(style.format(name=name, value=logs[key]) for key, name in self.SHOWN if key in logs)


@contextmanager
def stops_between_steps() -> Iterator[keras.callbacks.Callback]:
    """Hold stop signals back while the block runs TensorFlow, raising one where the callback it gives is called (a
    fit's step or epoch has ended) or as the block ends.

    Raised wherever it lands, a stop can come inside Python code that TensorFlow's C++ is calling (the eager
    context's handle, asked for while a tensor is made) and crash the process, or cut TensorFlow's own code short (a
    graph scope left entered, a lock left taken) so that its next call crashes or hangs. Between steps it is idle.
    """
    with stopping.deferred():
        yield _StopBetweenSteps()


class _StopBetweenSteps(keras.callbacks.Callback):
    """Last in a fit's callbacks, so that the others record the step or epoch before a stop ends the fit."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        stopping.raise_pending()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        stopping.raise_pending()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        stopping.raise_pending()


class DivergenceStop(keras.callbacks.Callback):
    """Stops training once the loss is NaN, infinite or above `max_loss`, and remembers where.

    Like Keras' TerminateOnNaN, but a loss of thousands on a 10-class problem never recovers either, and
    with a bounded cell (tanh) it can take very long to overflow to inf.
    """

    def __init__(self, max_loss: float | None) -> None:
        super().__init__()
        self.max_loss = math.inf if max_loss is None else max_loss
        self.where: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._check((logs or {}).get("loss"), f"epoch {self._epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._check((logs or {}).get("loss"), f"epoch {epoch + 1}")

    def _check(self, loss: Any, where: str) -> None:
        if self.where is None and loss is not None and not float(loss) <= self.max_loss:
            self.where = f"loss became {float(loss):g} at {where} (limit train.max_loss={self.max_loss:g})"
            self.model.stop_training = True


class TrialReporter(keras.callbacks.Callback):
    """Tells an Optuna trial each epoch's validation accuracy and stops the run once the study's pruner gives up on it.

    Never after the last epoch: a run that trained all its epochs is complete, whatever the pruner would say.
    """

    def __init__(self, trial: Any) -> None:
        super().__init__()
        self.trial = trial
        self.pruned_after: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get("val_accuracy")
        if value is None:
            return
        self.trial.report(float(value), step=epoch)
        if epoch + 1 < self.params["epochs"] and self.trial.should_prune():
            self.pruned_after = epoch + 1
            self.model.stop_training = True


class StepCounter(keras.callbacks.Callback):
    """Counts optimizer steps, not calls: with steps_per_execution N, Keras calls the batch hooks once per
    N steps, passing the last step's index in the epoch (which overshoots on an epoch's short last call)."""

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0
        self._before_epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._before_epoch = self.taken

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.taken = self._before_epoch + min(batch + 1, self.params["steps"])
        self.on_steps_taken()

    def on_steps_taken(self) -> None:
        """What the subclass does once `taken` is up to date."""


class StepLimit(StepCounter):
    """Stops training after `steps` optimizer steps in all, wherever that falls inside an epoch."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def on_steps_taken(self) -> None:
        if self.taken >= self.steps:
            self.model.stop_training = True


@dataclass(frozen=True)
class EvalSchedule:
    """When StepEvaluator evaluates: after step `first`, then every `every` steps (and after the last one)."""

    every: int
    first: int | None = None

    def due(self, taken: int) -> bool:
        first = self.first or self.every
        return taken >= first and (taken - first) % self.every == 0


class StepEvaluator(StepCounter):
    """Evaluates on the test set on `schedule`: the tutorials' progress line, beside what a tutorial reported.

    Each evaluation is printed and steps.csv is rewritten, so an interrupted run keeps what it measured.
    `reported` maps steps to the test accuracy a tutorial printed after them.
    """

    COLUMNS = STEPS_COLUMNS

    def __init__(self, schedule: EvalSchedule, test: tuple[Any, Any], batch_size: int, path: Path, console: Console,
                 reported: dict[int, float] | None = None) -> None:
        super().__init__()
        self.schedule = schedule
        self.data = test
        self.batch_size = batch_size
        self.path = path
        self.console = console
        self.reported = dict(reported or {})
        self.rows: list[dict[str, Any]] = []

    def on_steps_taken(self) -> None:
        if self.schedule.due(self.taken):
            self._evaluate()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self.rows or self.rows[-1]["step"] != self.taken:
            self._evaluate()

    def _evaluate(self) -> None:
        """Evaluate, then give the training metrics back their running state: evaluate() resets and refills the
        same metric objects, so the epoch's logs (history.csv) would otherwise report the test set."""
        x, y = self.data
        training_state = [[variable.numpy() for variable in metric.variables] for metric in self.model.metrics]
        metrics = self.model.evaluate(x, y, batch_size=self.batch_size, verbose=0, return_dict=True)
        for metric, values in zip(self.model.metrics, training_state, strict=True):
            for variable, value in zip(metric.variables, values, strict=True):
                variable.assign(value)
        row = {"step": self.taken, "test_loss": float(metrics["loss"]), "test_accuracy": float(metrics["accuracy"]),
               "reported_test_accuracy": self.reported.get(self.taken)}
        self.rows.append(row)
        reported = "" if row["reported_test_accuracy"] is None else f"  (reported {row['reported_test_accuracy']})"
        self.console.print(f"step {self.taken}  test_loss {row['test_loss']:.4f}  "
                           f"test_acc [bold]{row['test_accuracy']:.4f}[/]{reported}")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic.write_text(self.path, buffer.getvalue())
