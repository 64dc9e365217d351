"""The faster recurrent layers: the same weights and maths as Keras' own, arranged for a CPU.

- Batch shards: a recurrence is a chain, each time step waiting for the one before, so on a CPU TensorFlow runs
  its small products one after another on one core. Rows of a batch never interact inside the cell, so the
  batch is split into one shard per core, and TensorFlow's inter-op threads run the chains side by side.
- ProjectedGRU: Keras' GRU multiplies each step's inputs by the kernel inside the loop; done once over the whole
  (batch * steps, inputs) block, the loop keeps only the recurrent product (about 1.2x for GRU-128 on a 2-core
  CPU; the same change made LSTM slower there, so LSTM keeps Keras' loop).

`python benchmarks/throughput.py --levers` measures both (benchmarks/README.md); tests/test_speed.py compares
outputs and gradients with Keras' layers, and saved models hold Keras' layers (rnn_sweep.train.model.portable_copy).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops
from keras.src.backend import rnn as backend_rnn


def needs_keras_loop(cell: Any, mask: Any, training: bool) -> bool:
    """Masks, and cell dropout in training (Keras draws its masks for the whole batch before the loop), need
    Keras' own loop: the faster formulations here and in rnn_sweep.train.layers leave them to it."""
    return mask is not None or bool(training and (cell.dropout or cell.recurrent_dropout))


# Registered because keras.layers.Bidirectional rebuilds its backward half from the forward layer's config.
@keras.saving.register_keras_serializable(package="rnn_sweep")
class ProjectedGRU(keras.layers.GRU):
    """Falls back to Keras' own loop (and its cuDNN kernel on a GPU) where the shortcut does not apply."""

    def inner_loop(self, sequences: Any, initial_state: Any, mask: Any, training: bool = False) -> Any:
        cell = self.cell
        if needs_keras_loop(cell, mask, training) or not (cell.use_bias and cell.reset_after) or self._cudnn_possible():
            return super().inner_loop(sequences, initial_state, mask, training=training)
        steps, inputs = sequences.shape[1], sequences.shape[2]
        projected = ops.matmul(ops.reshape(sequences, (-1, inputs)), cell.kernel) + cell.bias[0]
        projected = ops.reshape(projected, (-1, steps, 3 * cell.units))
        recurrent_kernel, recurrent_bias = cell.recurrent_kernel, cell.bias[1]

        def step(x_t: Any, states: list[Any]) -> tuple[Any, list[Any]]:
            h = states[0]
            x_z, x_r, x_h = ops.split(x_t, 3, axis=-1)
            r_z, r_r, r_h = ops.split(ops.matmul(h, recurrent_kernel) + recurrent_bias, 3, axis=-1)
            z = cell.recurrent_activation(x_z + r_z)
            r = cell.recurrent_activation(x_r + r_r)
            h = z * h + (1 - z) * cell.activation(x_h + r * r_h)
            return h, [h]

        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        return backend_rnn(step, projected, states, go_backwards=self.go_backwards, unroll=self.unroll,
                           input_length=steps, return_all_outputs=self.return_sequences)

    def _cudnn_possible(self) -> bool:
        import tensorflow as tf

        return self.use_cudnn in ("auto", True) and bool(tf.config.list_logical_devices("GPU"))


class BatchShards:
    """Mixin for a Keras RNN layer: its `inner_loop` runs once per shard of the batch (unsharded where
    rnn_sweep.train.layers.needs_keras_loop says so)."""

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

