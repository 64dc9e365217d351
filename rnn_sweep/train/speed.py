"""What `auto` means for the speed levers of one run, per device and cell.

The choices come from `python benchmarks/throughput.py --levers` (benchmarks/README.md): on a CPU, Keras spends
much of a small RNN's step outside the arithmetic (Python dispatch per step, the while loop per time step),
so taking many steps per call into TensorFlow and unrolling the short 28-step loop pay, together: on their
own, unrolling made LSTM and GRU slower. GRU also gains from projecting all inputs at once
(rnn_sweep.train.layers), and cells of 64 units and more from splitting the batch into one recurrence per core
(rnn_sweep.train.layers). On a GPU, LSTM and GRU keep `unroll=False`, which the cuDNN kernels need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from omegaconf import DictConfig

from rnn_sweep.config.cells import cell_entry
from rnn_sweep.config.schema import AUTO

# Steps per execution when auto: enough to hide the per-call overhead, small enough for callbacks and
# progress to stay responsive (an epoch of 54,000 images at batch 128 is 422 steps).
AUTO_STEPS_PER_EXECUTION = 32
# Unrolling is only worth it for short loops: 28 rows or columns, not 784 pixels.
MAX_UNROLLED_STEPS = 64
# ...and for runs long enough to earn back its tracing time (a GRU-32 run's first epoch took 7.4 s unrolled,
# its later ones 0.36 s): a step saves some milliseconds, so short test and smoke runs stay rolled.
MIN_UNROLLED_TRAINING_STEPS = 1000
# Batch shards (rnn_sweep.train.layers) when auto: one per core, each of at least this many rows, for cells whose
# recurrent kernel has at least this many weights. Sharding doubles the ops per time step, which only pays when
# each step has arithmetic enough: measured faster for SimpleRNN-128 (16,384 weights), LSTM-64 (16,384) and
# GRU-64 (12,288), slower for SimpleRNN-64 (4,096), LSTM-32 (4,096) and GRU-32 (3,072).
MIN_ROWS_PER_SHARD = 32
MIN_RECURRENT_WEIGHTS_TO_SHARD = 8192


@dataclass(frozen=True)
class FitPlan:
    """How long training runs: epochs to ask Keras for, optimizer steps per epoch and in all, and shuffling.

    With `train.steps` the run walks the training set in its fixed (seeded) order, wrapping round, for exactly
    that many steps: enough epochs are asked for and StepLimit stops inside the last one.
    """

    epochs: int
    steps_per_epoch: int
    total_steps: int
    shuffle: bool


def fit_plan(train_cfg: DictConfig, train_samples: int) -> FitPlan:
    steps_per_epoch = math.ceil(train_samples / train_cfg.batch_size)
    if train_cfg.steps is None:
        return FitPlan(train_cfg.epochs, steps_per_epoch, train_cfg.epochs * steps_per_epoch, train_cfg.shuffle)
    return FitPlan(math.ceil(train_cfg.steps / steps_per_epoch), steps_per_epoch, train_cfg.steps, False)


@dataclass(frozen=True)
class SpeedPlan:
    steps_per_execution: int
    unroll: bool
    project_inputs: bool
    batch_shards: int
    precision: str
    jit_compile: bool


def plan_speed(
    model_cfg: DictConfig,
    train_cfg: DictConfig,
    time_steps: int,
    training_steps: int,
    steps_per_epoch: int,
    on_gpu: bool,
    cores: int = 1,
) -> SpeedPlan:
    """Resolve every `auto` lever for a run of `training_steps` optimizer steps on `cores` CPU cores (the
    job's thread cap); values the user set are kept."""
    return SpeedPlan(
        steps_per_execution=_steps_per_execution(train_cfg, steps_per_epoch),
        unroll=_unroll(model_cfg, time_steps, training_steps, on_gpu),
        project_inputs=_project_inputs(model_cfg),
        batch_shards=_batch_shards(model_cfg, train_cfg.batch_size, training_steps, on_gpu, cores),
        precision=train_cfg.precision,
        jit_compile=train_cfg.jit_compile,
    )


def _steps_per_execution(train_cfg: DictConfig, steps_per_epoch: int) -> int:
    """The auto value, cut down to divide train.steps, train.eval_every and train.first_eval_step, which callbacks
    must hit exactly, and then the epoch length too, so that no call into TensorFlow runs on past one of those steps."""
    if train_cfg.steps_per_execution != AUTO:
        return int(train_cfg.steps_per_execution)
    keys = ("steps", "eval_every", "first_eval_step")
    exact = [step for step in (train_cfg.get(key) for key in keys) if step is not None]
    return math.gcd(AUTO_STEPS_PER_EXECUTION, *exact, *([steps_per_epoch] if exact else []))


def _project_inputs(model_cfg: DictConfig) -> bool:
    """Where the cell has a projected layer (the registry's `projected`), auto means on."""
    return cell_entry(model_cfg.cell).projected is not None and model_cfg.get("project_inputs") in (AUTO, True)


def _unroll(model_cfg: DictConfig, time_steps: int, training_steps: int, on_gpu: bool) -> bool:
    if model_cfg.unroll != AUTO:
        return bool(model_cfg.unroll)
    if on_gpu and cell_entry(model_cfg.cell).cudnn:
        return False  # it would rule out the cuDNN kernels
    return time_steps <= MAX_UNROLLED_STEPS and training_steps >= MIN_UNROLLED_TRAINING_STEPS


def _batch_shards(model_cfg: DictConfig, batch_size: int, training_steps: int, on_gpu: bool, cores: int) -> int:
    if model_cfg.batch_shards != AUTO:
        return int(model_cfg.batch_shards)
    if training_steps < MIN_UNROLLED_TRAINING_STEPS:
        return 1  # shards double the graph to trace, which short runs would not earn back either
    entry = cell_entry(model_cfg.cell)
    if entry.sharded is None or on_gpu or entry.gates * model_cfg.units**2 < MIN_RECURRENT_WEIGHTS_TO_SHARD:
        return 1  # on a GPU, one kernel over the whole batch is faster
    return max(1, min(cores, batch_size // MIN_ROWS_PER_SHARD))
