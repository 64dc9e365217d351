"""Recurrent layers that split each batch into shards with independent recurrences, one per CPU core.

A recurrence is a chain: each time step waits for the one before, so on a CPU TensorFlow runs its small
products and element-wise ops one after another on one core, however many cores there are. Rows of a batch
never interact inside the cell, so two halves of the batch make two chains that TensorFlow's inter-op threads
run side by side, forward and backward. `python benchmarks/throughput.py --levers` measures what this gives
(README, "Speed"); the results are the same up to float rounding (tests/test_speed.py checks outputs and
gradients against Keras' own layers), and saved models hold Keras' layers (rnn_sweep.model.portable_copy).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from rnn_sweep.projected import ProjectedGRU, needs_keras_loop


class BatchShards:
    """Mixin for a Keras RNN layer: its `inner_loop` runs once per shard of the batch (unsharded where
    rnn_sweep.projected.needs_keras_loop says so)."""

    def __init__(self, *args: Any, shards: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shards = shards

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "shards": self.shards}

    def inner_loop(self, sequences: Any, initial_state: Any, mask: Any, training: bool = False) -> Any:
        if self.shards == 1 or needs_keras_loop(self.cell, mask, training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        batch = tf.shape(sequences)[0]
        size = -(-batch // self.shards)  # rows per shard; the last is padded, as an empty shard would fail
        padding = size * self.shards - batch
        sequences, states = _pad(sequences, padding), [_pad(state, padding) for state in states]
        parts = [
            super(BatchShards, self).inner_loop(
                sequences[index * size:(index + 1) * size],
                [state[index * size:(index + 1) * size] for state in states],
                None,
                training=training,
            )
            for index in range(self.shards)
        ]
        last_outputs, outputs, new_states = zip(*parts, strict=True)
        return (
            tf.concat(last_outputs, axis=0)[:batch],
            tf.concat(outputs, axis=0)[:batch],
            [tf.concat(state, axis=0)[:batch] for state in zip(*new_states, strict=True)],
        )


def _pad(tensor: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
    """`rows` zero rows appended along the batch axis."""
    return tf.pad(tensor, [[0, rows]] + [[0, 0]] * (len(tensor.shape) - 1))


# Registered because keras.layers.Bidirectional rebuilds its backward half from the forward layer's config.
@keras.saving.register_keras_serializable(package="rnn_sweep")
class ShardedSimpleRNN(BatchShards, keras.layers.SimpleRNN):
    pass


@keras.saving.register_keras_serializable(package="rnn_sweep")
class ShardedLSTM(BatchShards, keras.layers.LSTM):
    pass


@keras.saving.register_keras_serializable(package="rnn_sweep")
class ShardedGRU(BatchShards, keras.layers.GRU):
    pass


@keras.saving.register_keras_serializable(package="rnn_sweep")
class ShardedProjectedGRU(BatchShards, ProjectedGRU):
    pass


SHARDED = {
    keras.layers.SimpleRNN: ShardedSimpleRNN,
    keras.layers.LSTM: ShardedLSTM,
    keras.layers.GRU: ShardedGRU,
    ProjectedGRU: ShardedProjectedGRU,
}
