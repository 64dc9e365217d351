"""Learning-rate schedules (`train.lr_schedule`, `train.warmup_epochs`), peaking at optimizer.learning_rate.

Keras has cosine decay with warm-up but no one-cycle, and the three should share one definition of
warm-up, so they are one small schedule class. Steps count from 0, as the optimizer's `iterations` do.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

# One-cycle as Smith and Topin describe it (and PyTorch's OneCycleLR defaults): start at peak / 25, reach
# the peak after 30% of the steps, then anneal along a cosine to peak / 25 / 1e4.
ONE_CYCLE_START_DIV = 25.0
ONE_CYCLE_FINAL_DIV = 1e4
ONE_CYCLE_WARMUP = 0.3


@keras.saving.register_keras_serializable(package="rnn_sweep")
class PeakSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup_steps`, then constant, cosine to 0, or one-cycle's cosine."""

    def __init__(self, kind: str, peak: float, total_steps: int, warmup_steps: int) -> None:
        self.kind = kind
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self._levels: Any = self.levels()

    def levels(self) -> list[float]:
        """The learning rates the curve runs between, worked out once in Python: start, peak - start, end,
        peak - end, peak. Each is a float32 constant of the graph, or one element of a variable with that value
        (`hold_levels_in`): the step computes the same numbers either way."""
        start = self.peak / ONE_CYCLE_START_DIV if self.kind == "one_cycle" else 0.0
        end = start / ONE_CYCLE_FINAL_DIV if self.kind == "one_cycle" else 0.0
        return [start, self.peak - start, end, self.peak - end, self.peak]

    def hold_levels_in(self, optimizer: keras.optimizers.Optimizer) -> None:
        """Read the levels from a variable of `optimizer`, so that a traced train step serves every peak."""
        self._levels = optimizer.add_variable((5,), name="schedule_levels")
        self._levels.assign(self.levels())

    def __call__(self, step):
        step = ops.cast(step, "float32")
        start, rise, end, fall, peak = (self._levels[index] for index in range(5))
        warmup = float(max(self.warmup_steps, 1))
        # (step + 1): the first step already moves, instead of wasting a step at learning rate 0.
        rising = start + rise * ops.minimum((step + 1.0) / warmup, 1.0)
        if self.kind == "constant":
            after = ops.convert_to_tensor(peak, "float32")
        else:
            span = float(max(self.total_steps - self.warmup_steps, 1))
            progress = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
            after = end + fall * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, rising, after)

    def get_config(self) -> dict:
        return {"kind": self.kind, "peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps}


def build_schedule(
    kind: str, peak: float, total_steps: int, steps_per_epoch: int, warmup_epochs: float
) -> float | PeakSchedule:
    """The optimizer's learning_rate: a plain float when it never changes, else a PeakSchedule."""
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    if kind == "one_cycle" and warmup_steps == 0:
        warmup_steps = round(ONE_CYCLE_WARMUP * total_steps)
    if kind == "constant" and warmup_steps == 0:
        return peak
    return PeakSchedule(kind, peak, total_steps, min(warmup_steps, total_steps))
