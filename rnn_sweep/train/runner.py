"""Train and evaluate one run and write its folder; whatever happens, the run ends with a result.json."""

from __future__ import annotations

import math
import os
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from rich.console import Console

from rnn_sweep.data.loading import load_mnist, locate_mnist, make_splits
from rnn_sweep.data.sequences import sequence_shape, to_sequences
from rnn_sweep.results.record import HISTORY_FILE, MODEL_FILE, STEPS_FILE, TENSORBOARD_DIR, new_record, write_result


def train_run(
    cfg: DictConfig, run_dir: Path, overrides: list[str], console: Console, threads: int | None = None
) -> dict[str, Any]:
    """Run the training described by the validated `cfg` in `run_dir`; return the record it wrote.

    `threads` caps TensorFlow's CPU thread pools (None: TensorFlow's default, every core).

    Failures become a record with status `failed` and the error text; Ctrl-C becomes `interrupted`
    (written, then re-raised so a sweep stops).
    """
    record = new_record(cfg, run_dir, overrides)
    record["started_at"] = _now()
    try:
        _train(cfg, run_dir, console, record, threads, time.perf_counter())
    except KeyboardInterrupt:
        record.update(status="interrupted", error="interrupted (Ctrl-C / SIGINT) before the run finished")
        raise
    except Exception as error:  # any failure must still leave a row behind
        record.update(status="failed", error=f"{type(error).__name__}: {error}")
    finally:
        record["finished_at"] = _now()
        write_result(run_dir, record)
    return record


def _train(
    cfg: DictConfig, run_dir: Path, console: Console, record: dict[str, Any], threads: int | None, started: float
) -> None:
    import keras
    import tensorflow as tf

    from rnn_sweep.train.callbacks import (
        DivergenceStop,
        EpochProgress,
        EpochTimer,
        HistoryWriter,
        StepEvaluator,
        StepLimit,
    )
    from rnn_sweep.train.device import available_cores, configure_device, configure_threads
    from rnn_sweep.train.model import build_model, compile_model, one_hot_labels, portable_copy
    from rnn_sweep.train.schedules import build_schedule
    from rnn_sweep.train.speed import plan_speed

    device = configure_device(cfg.train.device)
    record.update(
        threads=configure_threads(threads),
        device=device,
        tensorflow_version=tf.__version__,
        keras_version=keras.__version__,
    )
    keras.utils.set_random_seed(cfg.seed)
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()

    source = locate_mnist(cfg.data.path)
    train, test = load_mnist(source, verify=cfg.data.verify)
    splits = make_splits(
        train,
        test,
        limit_train=cfg.data.limit_train,
        limit_test=cfg.data.limit_test,
        validation_split=cfg.train.validation_split,
        seed=cfg.seed,
    )
    record.update(
        data_source=source.describe(),
        train_samples=len(splits.y_train),
        val_samples=len(splits.y_val),
        test_samples=len(splits.y_test),
    )
    layout, permutation_seed = cfg.data.sequence, cfg.data.permutation_seed
    x_train, x_val, x_test = (to_sequences(x, layout, permutation_seed) for x in (splits.x_train, splits.x_val,
                                                                                splits.x_test))
    y_train, y_val, y_test = (one_hot_labels(y, cfg.train.label_smoothing) for y in (splits.y_train, splits.y_val,
                                                                                    splits.y_test))
    epochs, total_steps, shuffle = fit_plan(cfg.train, len(splits.y_train))
    record.update(sequence=layout, steps=total_steps)

    input_shape = sequence_shape(layout)
    steps_per_epoch = math.ceil(len(splits.y_train) / cfg.train.batch_size)
    speed = plan_speed(cfg.model, cfg.train, time_steps=input_shape[0], training_steps=total_steps,
                       steps_per_epoch=steps_per_epoch, on_gpu=device.startswith("GPU"),
                       cores=record["threads"] or available_cores())
    record.update(steps_per_execution=speed.steps_per_execution, unroll=speed.unroll,
                  project_inputs=speed.project_inputs, batch_shards=speed.batch_shards, precision=speed.precision)
    model = build_model(cfg.model, input_shape, unroll=speed.unroll, precision=speed.precision,
                        project_inputs=speed.project_inputs, batch_shards=speed.batch_shards)
    learning_rate = build_schedule(cfg.train.lr_schedule, cfg.optimizer.learning_rate, total_steps,
                                   steps_per_epoch, cfg.train.warmup_epochs)
    compile_model(model, cfg.optimizer, learning_rate, label_smoothing=cfg.train.label_smoothing,
                  from_logits=cfg.model.output_activation == "linear", precision=speed.precision,
                  steps_per_execution=speed.steps_per_execution, jit_compile=speed.jit_compile)
    record["params"] = model.count_params()

    timer, divergence = EpochTimer(), DivergenceStop(cfg.train.max_loss)
    label = f"{cfg.model.cell}-{cfg.model.units} bs{cfg.train.batch_size} {cfg.optimizer.name}"
    callbacks = [
        timer,
        divergence,
        HistoryWriter(run_dir / HISTORY_FILE),
        EpochProgress(console, epochs, label),
    ]
    if cfg.train.tensorboard:
        # Epoch-level scalars only: no profiler and no histograms, so the timing figures stay honest.
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / TENSORBOARD_DIR), profile_batch=0))
    if cfg.train.steps is not None:
        callbacks.append(StepLimit(cfg.train.steps))
    if cfg.train.eval_every is not None:
        callbacks.append(StepEvaluator(cfg.train.eval_every, x_test, y_test, cfg.train.eval_batch_size,
                                       run_dir / STEPS_FILE, console))
    start = time.perf_counter()
    try:
        history = model.fit(
            x_train,
            y_train,
            batch_size=cfg.train.batch_size,
            epochs=epochs,
            validation_data=(x_val, y_val),
            validation_batch_size=cfg.train.eval_batch_size,
            shuffle=shuffle,
            callbacks=callbacks,
            verbose=0,
        )
    finally:
        record["train_seconds"] = time.perf_counter() - start
        record.update(_epoch_figures(timer, len(splits.y_train)))
        if timer.first_step_at is not None:
            record["setup_seconds"] = timer.first_step_at - started
            record["first_step_at"] = _now(precise=True, seconds_ago=time.perf_counter() - timer.first_step_at)
    if divergence.where:
        record.update(status="diverged", error=f"training diverged: {divergence.where}")
        return
    record["best_val_accuracy"] = max(history.history.get("val_accuracy", [float("nan")]))

    start = time.perf_counter()
    metrics = model.evaluate(
        x_test, y_test, batch_size=cfg.train.eval_batch_size, verbose=0, return_dict=True
    )
    eval_seconds = time.perf_counter() - start
    record.update(
        test_loss=float(metrics["loss"]),
        test_accuracy=float(metrics["accuracy"]),
        eval_seconds=eval_seconds,
        eval_samples_per_second=len(splits.y_test) / eval_seconds,
    )
    if cfg.train.save_model:
        _save_model(portable_copy(model, cfg.model, input_shape), run_dir / MODEL_FILE)
    record.update(status="ok", error=None)


def fit_plan(train_cfg: DictConfig, train_samples: int) -> tuple[int, int, bool]:
    """(epochs to ask Keras for, optimizer steps in all, shuffle) for epoch- or step-based training.

    With `train.steps` the run walks the training set in its fixed (seeded) order, wrapping round, for exactly
    that many steps: enough epochs are asked for and StepLimit stops inside the last one.
    """
    steps_per_epoch = math.ceil(train_samples / train_cfg.batch_size)
    if train_cfg.steps is None:
        return train_cfg.epochs, train_cfg.epochs * steps_per_epoch, train_cfg.shuffle
    return math.ceil(train_cfg.steps / steps_per_epoch), train_cfg.steps, False


def _epoch_figures(timer: Any, train_samples: int) -> dict[str, Any]:
    """The first epoch apart (it includes tracing), the median of the rest as the steady-state figure."""
    if not timer.seconds:
        return {"epochs_completed": 0}
    steady = timer.seconds[1:] or timer.seconds
    steady_training = timer.training_seconds[1:] or timer.training_seconds
    return {
        "epochs_completed": len(timer.seconds),
        "first_epoch_seconds": timer.seconds[0],
        "epoch_seconds": statistics.median(steady),
        "train_samples_per_second": train_samples / statistics.median(steady_training),
    }


def _save_model(model: Any, path: Path) -> None:
    """Keras needs the .keras suffix, so the temporary file keeps it; the rename makes the write atomic."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    model.save(tmp)
    os.replace(tmp, path)


def _now(precise: bool = False, seconds_ago: float = 0.0) -> str:
    moment = datetime.now(timezone.utc).astimezone() - timedelta(seconds=seconds_ago)
    return moment.isoformat(timespec="microseconds" if precise else "seconds")
