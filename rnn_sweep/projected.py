"""GRU with the input projection of all time steps done as one matrix product before the recurrence.

Keras' GRU multiplies each step's 28 inputs by the kernel inside the loop: 28 small products forward and 28
more for the kernel's gradient. Done once over the whole (batch * steps, inputs) block, the loop keeps only
the recurrent product; `python benchmarks/throughput.py --levers` measured GRU-128 training about 1.2x faster
on a 2-core CPU this way (the same change made LSTM slower there, so LSTM keeps Keras' loop).

It has the same weights and the same maths as keras.layers.GRU (tests/test_speed.py compares outputs and
gradients), and saved models hold a plain keras.layers.GRU (rnn_sweep.model.portable_copy).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops
from keras.src.backend import rnn as backend_rnn


def needs_keras_loop(cell: Any, mask: Any, training: bool) -> bool:
    """Masks, and cell dropout in training (Keras draws its masks for the whole batch before the loop), need
    Keras' own loop: the faster formulations here and in rnn_sweep.sharded leave them to it."""
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
