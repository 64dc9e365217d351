"""What `auto` means for the speed levers of one run, per device and cell.

The choices come from `python benchmarks/throughput.py --levers` (README, "Speed"): on a CPU, Keras spends
much of a small RNN's step outside the arithmetic (Python dispatch per step, the while loop per time step),
so taking many steps per call into TensorFlow and unrolling the short 28-step loop pay, together: on their
own, unrolling made LSTM and GRU slower. GRU also gains from projecting all inputs at once
(rnn_sweep.projected). On a GPU, LSTM and GRU keep `unroll=False`, which the cuDNN kernels need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from omegaconf import DictConfig

from rnn_sweep.schema import AUTO

# Steps per execution when auto: enough to hide the per-call overhead, small enough for callbacks and
# progress to stay responsive (an epoch of 54,000 images at batch 128 is 422 steps).
AUTO_STEPS_PER_EXECUTION = 32
# Unrolling is only worth it for short loops: 28 rows or columns, not 784 pixels.
MAX_UNROLLED_STEPS = 64
# ...and for runs long enough to earn back its tracing time (a GRU-32 run's first epoch took 7.4 s unrolled,
# its later ones 0.36 s): a step saves some milliseconds, so short test and smoke runs stay rolled.
MIN_UNROLLED_TRAINING_STEPS = 1000


@dataclass(frozen=True)
class SpeedPlan:
    steps_per_execution: int
    unroll: bool
    project_inputs: bool
    precision: str
    jit_compile: bool


def plan_speed(
    model_cfg: DictConfig,
    train_cfg: DictConfig,
    time_steps: int,
    training_steps: int,
    steps_per_epoch: int,
    on_gpu: bool,
) -> SpeedPlan:
    """Resolve every `auto` lever for a run of `training_steps` optimizer steps; values the user set are kept."""
    return SpeedPlan(
        steps_per_execution=_steps_per_execution(train_cfg, steps_per_epoch),
        unroll=_unroll(model_cfg, time_steps, training_steps, on_gpu),
        project_inputs=model_cfg.cell == "gru" and model_cfg.project_inputs in (AUTO, True),
        precision=train_cfg.precision,
        jit_compile=train_cfg.jit_compile,
    )


def _steps_per_execution(train_cfg: DictConfig, steps_per_epoch: int) -> int:
    """The auto value, cut down to divide train.steps and train.eval_every, which callbacks must hit exactly,
    and then the epoch length too, so that no call into TensorFlow runs on past one of those steps."""
    if train_cfg.steps_per_execution != AUTO:
        return int(train_cfg.steps_per_execution)
    exact = [step for step in (train_cfg.steps, train_cfg.eval_every) if step is not None]
    return math.gcd(AUTO_STEPS_PER_EXECUTION, *exact, *([steps_per_epoch] if exact else []))


def _unroll(model_cfg: DictConfig, time_steps: int, training_steps: int, on_gpu: bool) -> bool:
    if model_cfg.unroll != AUTO:
        return bool(model_cfg.unroll)
    if on_gpu and model_cfg.cell != "simple_rnn":
        return False  # it would rule out the cuDNN kernels
    return time_steps <= MAX_UNROLLED_STEPS and training_steps >= MIN_UNROLLED_TRAINING_STEPS
