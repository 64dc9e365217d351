"""Train and evaluate one run and write its folder; whatever happens, the run ends with a result.json."""

from __future__ import annotations

import hashlib
import io
import os
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig
from rich.console import Console

from rnn_sweep import atomic, stopping
from rnn_sweep.console import LiveProgress, print_error
from rnn_sweep.data.loading import load_data, locate_data, make_splits
from rnn_sweep.data.sequences import sequence_shape, to_sequences
from rnn_sweep.record.columns import (
    HISTORY_FILE,
    LABELS_FILE,
    MODEL_FILE,
    PREDICTIONS_FILE,
    STEPS_FILE,
    TENSORBOARD_DIR,
)
from rnn_sweep.record.result_files import new_record, write_last_result
from rnn_sweep.train.callbacks import (
    DivergenceStop,
    EpochProgress,
    EpochTensorBoard,
    EpochTimer,
    EvalSchedule,
    HistoryWriter,
    StepEvaluator,
    StepLimit,
    TrialReporter,
    stops_between_steps,
)
from rnn_sweep.train.device import available_cores, configure_device, configure_threads
from rnn_sweep.train.model import build_model, compile_model, one_hot_labels, portable_copy
from rnn_sweep.train.reuse import compiled_model, graph_key, set_random_seed, traces_so_far
from rnn_sweep.train.schedules import build_schedule
from rnn_sweep.train.speed import FitPlan, fit_plan, plan_speed

STALE_PREFIX = ".tmp-"  # the model's temporary file: .tmp-PID-model.keras


def train_run(
    cfg: DictConfig, run_dir: Path, overrides: list[str], console: Console, threads: int | None = None,
    trial: Any = None, live: LiveProgress | None = None,
) -> dict[str, Any]:
    """Run the training described by the validated `cfg` in `run_dir`; return the record it wrote.

    `threads` caps TensorFlow's CPU thread pools (None: TensorFlow's default, every core). `trial`: the Optuna
    trial of a search, told each epoch's validation accuracy; when its pruner stops the run, the status is `pruned`.
    `live`: a progress display inside each epoch, for an interactive terminal (None: one line per epoch only).

    Failures become a record with status `failed` and the error text; Ctrl-C becomes `interrupted`
    (written, then re-raised so a sweep stops).
    """
    record = new_record(cfg, run_dir, overrides)
    record.update(started_at=_now(), load_average_1m=_load_average())
    _remove_stale_temporaries(run_dir)
    traces_before = traces_so_far()
    try:
        with stops_between_steps() as between_steps:  # never inside TensorFlow's own code
            _run_training_steps(cfg, run_dir, console, record, threads, time.perf_counter(), trial, live, between_steps)
    except KeyboardInterrupt:  # SIGTERM too (rnn_sweep.stopping)
        record.update(status="interrupted", error=f"interrupted ({stopping.describe()}) before the run finished",
                      epochs_completed=record["epochs_completed"] or 0)
        raise
    except Exception as error:  # any failure must still leave a row behind
        error = unwrapped(error)
        record.update(status="failed", error=f"{type(error).__name__}: {error}")
    finally:
        record.update(finished_at=_now(), traces=traces_so_far() - traces_before)
        with stopping.deferred():  # a signal now would cut the record short: it is raised once it is written
            _write_record(run_dir, record)
    return record


def unwrapped(error: BaseException) -> BaseException:
    """The error as raised, not Keras' copy of it: an error inside a layer's call (SLURM's warning signal arriving
    while the model is traced, for one) is raised again by Keras as a new one of its class whose message wraps the
    original in terminal escape codes and a dump of the call's arguments, the original kept as its context."""
    while getattr(error, "_keras_call_info_injected", False) and type(error.__context__) is type(error):
        error = error.__context__
    return error


def _write_record(run_dir: Path, record: dict[str, Any]) -> None:
    """The record, or on a full disk the same record marked failed with the reason (the failed write freed its
    temporary file); if even that finds no room, the job is named without one and the sweep goes on."""
    if error := write_last_result(run_dir, record):
        print_error(f"{run_dir}: no result.json could be written ({error.strerror}); the job counts as not run.")


def _remove_stale_temporaries(run_dir: Path) -> None:
    """Temporary files a killed or full-disk run left (a half-saved model, a half-written file): never results."""
    for stale in [*run_dir.glob(f"{STALE_PREFIX}*"), *run_dir.glob(".*.tmp")]:
        stale.unlink(missing_ok=True)


@dataclass(frozen=True)
class Sequences:
    """The three splits as model inputs (sequences) and targets (one-hot rows)."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any
    test_labels: Any  # the class of each test image, as integers



def _run_training_steps(
    cfg: DictConfig, run_dir: Path, console: Console, record: dict[str, Any], threads: int | None, started: float,
    trial: Any, live: LiveProgress | None, between_steps: Any,
) -> None:
    """The steps of a run, in the order of a Keras example; each fills in its part of the record. `between_steps`:
    the callback where a stop held back during the fit is raised (stops_between_steps)."""
    record.update(_set_up(cfg, threads))
    data, data_fields = _load_data(cfg)
    record.update(data_fields)
    plan = fit_plan(cfg.train, len(data.y_train))
    model, model_fields = _build_and_compile(cfg, plan, record["device"], record["threads"])
    record.update(model_fields, sequence=cfg.data.sequence, steps=plan.total_steps)

    timer, divergence = EpochTimer(), DivergenceStop(cfg.train.max_loss)
    history_writer = HistoryWriter(run_dir / HISTORY_FILE)
    reporter = [] if trial is None else [TrialReporter(trial)]
    callbacks = [timer, divergence, history_writer, *_callbacks(cfg, run_dir, console, plan, data, live), *reporter,
                 between_steps]
    history = _fit(model, cfg, data, plan, callbacks, (timer, history_writer), started, record)
    record["evaluations"] = next((len(c.rows) for c in callbacks if isinstance(c, StepEvaluator)), None)
    if divergence.where:
        record.update(status="diverged", error=f"training diverged: {divergence.where}")
        return
    val_accuracy = history.history.get("val_accuracy")
    record.update(best_val_accuracy=max(val_accuracy) if val_accuracy else None,
                  last_val_accuracy=val_accuracy[-1] if val_accuracy else None)
    if reporter and reporter[0].pruned_after:
        record.update(status="pruned", error=f"pruned after epoch {reporter[0].pruned_after}: validation accuracy "
                                             f"{val_accuracy[-1]:.4f} was behind the search's earlier trials")
        return

    record.update(_evaluate(model, cfg, data))
    wrap_up_start = time.perf_counter()
    _save_predictions(model, cfg, data, run_dir)
    if cfg.train.save_model:
        _save_model(_compiled_copy(model, cfg), run_dir / MODEL_FILE)
    record.update(status="ok", error=None, wrap_up_seconds=time.perf_counter() - wrap_up_start)


def _set_up(cfg: DictConfig, threads: int | None) -> dict[str, Any]:
    """Device, thread pools and seeds, before anything touches TensorFlow's runtime."""
    device = configure_device(cfg.train.device)
    fields = {
        "threads": configure_threads(threads),
        "device": device,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }
    set_random_seed(cfg.seed)
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    return fields


def _load_data(cfg: DictConfig) -> tuple[Sequences, dict[str, Any]]:
    source = locate_data(cfg.data.path, cfg.data.name)
    train, test = load_data(source, verify=cfg.data.verify)
    splits = make_splits(train, test, limit_train=cfg.data.limit_train, limit_test=cfg.data.limit_test,
                         validation_split=cfg.train.validation_split, seed=cfg.seed)
    def inputs(images: Any) -> Any:
        return to_sequences(images, cfg.data.sequence, cfg.data.permutation_seed)

    def targets(labels: Any) -> Any:
        return one_hot_labels(labels, cfg.train.label_smoothing)

    data = Sequences(inputs(splits.x_train), targets(splits.y_train), inputs(splits.x_val), targets(splits.y_val),
                     inputs(splits.x_test), targets(splits.y_test), splits.y_test)
    fields = {"data_source": source.describe(), "train_samples": len(splits.y_train),
              "val_samples": len(splits.y_val), "test_samples": len(splits.y_test),
              "test_set_hash": _test_set_hash(splits.x_test, splits.y_test),
              "validation": _validation(cfg.train.validation_split, len(splits.y_val))}
    return data, fields


def _validation(split: float, held_out: int) -> str:
    """What the validation metric (best_val_accuracy) was measured on, or why there is none."""
    if held_out:
        return f"{held_out} held-out training images (validation_split={split:g})"
    if split == 0:
        return "none (validation_split=0)"
    return f"none (validation_split={split:g} of the training images is less than one image)"


def _build_and_compile(
    cfg: DictConfig, plan: FitPlan, device: str, threads: int | None
) -> tuple[Any, dict[str, Any]]:
    input_shape = sequence_shape(cfg.data.sequence)
    speed = plan_speed(cfg.model, cfg.train, time_steps=input_shape[0], training_steps=plan.total_steps,
                       steps_per_epoch=plan.steps_per_epoch, on_gpu=device.startswith("GPU"),
                       cores=threads or available_cores())

    def build() -> Any:
        return build_model(cfg.model, input_shape, unroll=speed.unroll, precision=speed.precision,
                           project_inputs=speed.project_inputs, batch_shards=speed.batch_shards)

    def compile_(model: Any) -> None:
        learning_rate = build_schedule(cfg.train.lr_schedule, cfg.optimizer.learning_rate, plan.total_steps,
                                       plan.steps_per_epoch, cfg.train.warmup_epochs)
        compile_model(model, cfg.optimizer, learning_rate, label_smoothing=cfg.train.label_smoothing,
                      from_logits=cfg.model.output_activation == "linear", precision=speed.precision,
                      settings_in_variables=True, steps_per_execution=speed.steps_per_execution,
                      jit_compile=speed.jit_compile)

    model = compiled_model(graph_key(cfg, speed, plan, device, threads), build, compile_)
    fields = {"params": model.count_params(), "steps_per_execution": speed.steps_per_execution,
              "unroll": speed.unroll, "project_inputs": speed.project_inputs, "batch_shards": speed.batch_shards,
              "precision": speed.precision}
    return model, fields


def _callbacks(
    cfg: DictConfig, run_dir: Path, console: Console, plan: FitPlan, data: Sequences, live: LiveProgress | None
) -> list[Any]:
    """What watches the fit besides the timer and the divergence check: history, progress, logs, step limits."""
    label = f"{cfg.model.cell}-{cfg.model.units} bs{cfg.train.batch_size} {cfg.optimizer.name}"
    callbacks = [EpochProgress(console, plan.epochs, label, live)]
    if cfg.train.tensorboard:
        # Epoch-level scalars only: no profiler and no histograms, so the timing figures stay honest.
        callbacks.append(EpochTensorBoard(log_dir=str(run_dir / TENSORBOARD_DIR), profile_batch=0))
    if cfg.train.steps is not None:
        callbacks.append(StepLimit(cfg.train.steps))
    if cfg.train.eval_every is not None:
        schedule = EvalSchedule(cfg.train.eval_every, cfg.train.first_eval_step)
        callbacks.append(StepEvaluator(schedule, (data.x_test, data.y_test), cfg.train.eval_batch_size,
                                       run_dir / STEPS_FILE, console, cfg.preset.reported_trajectory))
    return callbacks


def _fit(
    model: Any, cfg: DictConfig, data: Sequences, plan: FitPlan, callbacks: list[Any],
    watchers: tuple[EpochTimer, HistoryWriter], started: float, record: dict[str, Any],
) -> Any:
    """Train; the timing fields go into the record even when training stops early or is interrupted."""
    timer, history_writer = watchers
    start = time.perf_counter()
    try:
        validation = (data.x_val, data.y_val) if len(data.y_val) else None
        history = model.fit(data.x_train, data.y_train, batch_size=cfg.train.batch_size, epochs=plan.epochs,
                            validation_data=validation, validation_batch_size=cfg.train.eval_batch_size,
                            shuffle=plan.shuffle, callbacks=callbacks, verbose=0)
    finally:
        record["train_seconds"] = time.perf_counter() - start
        for callback in callbacks:
            if isinstance(callback, EpochProgress):
                callback.close()  # a live display must not outlive a fit that raised (Ctrl-C)
        record.update(_epoch_figures(timer, history_writer.epochs_on_disk(), len(data.y_train)))
        if timer.first_step_at is not None:
            record["setup_seconds"] = timer.first_step_at - started
            record["first_step_at"] = _now(precise=True, seconds_ago=time.perf_counter() - timer.first_step_at)
    return history


def _evaluate(model: Any, cfg: DictConfig, data: Sequences) -> dict[str, Any]:
    start = time.perf_counter()
    metrics = model.evaluate(data.x_test, data.y_test, batch_size=cfg.train.eval_batch_size, verbose=0,
                             return_dict=True)
    eval_seconds = time.perf_counter() - start
    return {"test_loss": float(metrics["loss"]), "test_accuracy": float(metrics["accuracy"]),
            "eval_seconds": eval_seconds, "eval_samples_per_second": len(data.y_test) / eval_seconds}


def _save_predictions(model: Any, cfg: DictConfig, data: Sequences, run_dir: Path) -> None:
    """Each test image's predicted and true class, in test-set order: what compare's paired (McNemar) test reads."""
    scores = model.predict(data.x_test, batch_size=cfg.train.eval_batch_size, verbose=0)
    for name, classes in ((PREDICTIONS_FILE, np.argmax(scores, axis=-1)), (LABELS_FILE, data.test_labels)):
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(classes, dtype=np.int16))
        atomic.write_bytes(run_dir / name, buffer.getvalue())


def _test_set_hash(images: Any, labels: Any) -> str:
    """Which test images, with which labels, in which order: two runs may be paired image by image only if equal."""
    digest = hashlib.blake2b(digest_size=8)
    for array in (images, labels):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _epoch_figures(timer: Any, epochs: int, train_samples: int) -> dict[str, Any]:
    """The first epoch apart (it includes tracing), the median of the rest as the steady-state figure; what the
    first costs beyond a steady one is `trace_seconds` (None with one epoch: nothing to tell it from; 0 where the
    first was the faster, as when a job beside it ended meanwhile: nothing was spent tracing).

    Only the `epochs` in history.csv count: a Ctrl-C between the timer and the history writer must not add one.
    Every epoch's wall and CPU seconds are kept too, so compare can bootstrap over them and a reader can see noise.
    """
    seconds, training_seconds = timer.seconds[:epochs], timer.training_seconds[:epochs]
    if not seconds:
        return {"epochs_completed": 0}
    steady = seconds[1:] or seconds
    steady_training = training_seconds[1:] or training_seconds
    return {
        "epochs_completed": len(seconds),
        "first_epoch_seconds": seconds[0],
        "trace_seconds": max(0.0, seconds[0] - statistics.median(seconds[1:])) if len(seconds) > 1 else None,
        "epoch_seconds": statistics.median(steady),
        "train_samples_per_second": train_samples / statistics.median(steady_training),
        "epoch_seconds_all": list(seconds),
        "epoch_cpu_seconds_all": list(timer.cpu_seconds[:epochs]),
        "epoch_seconds_iqr": float(np.subtract(*np.percentile(steady, [75, 25]))) if len(steady) > 1 else None,
    }


def _load_average() -> float | None:
    """The machine's 1-minute load average as the run starts: above the core count, timings are contended."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has none
        return None


def _compiled_copy(model: Any, cfg: DictConfig) -> Any:
    """Keras' own layers, compiled with the run's loss (on logits where the head is linear) and accuracy, so
    `keras.saving.load_model(path).evaluate(x_test, y_test)` gives the run's test loss and accuracy. The optimizer
    is the configured one at its base learning rate: a schedule would need rnn-sweep to load."""
    plain = portable_copy(model, cfg.model, sequence_shape(cfg.data.sequence))
    compile_model(plain, cfg.optimizer, label_smoothing=cfg.train.label_smoothing,
                  from_logits=cfg.model.output_activation == "linear")
    return plain


def _save_model(model: Any, path: Path) -> None:
    """Keras needs the .keras suffix, so the temporary file keeps it; the rename makes the write atomic."""
    tmp = path.with_name(f"{STALE_PREFIX}{os.getpid()}-{path.name}")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:  # a full disk, a stop: no half-saved model stays behind
        tmp.unlink(missing_ok=True)
        raise


def _now(precise: bool = False, seconds_ago: float = 0.0) -> str:
    moment = datetime.now(timezone.utc).astimezone() - timedelta(seconds=seconds_ago)
    return moment.isoformat(timespec="microseconds" if precise else "seconds")
