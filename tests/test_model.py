"""The model and optimizer built from the config."""

from __future__ import annotations

import pytest
from helpers.config import typed_config
from helpers.lazy import lazy_functions

from rnn_sweep.config.schema import OPTIMIZERS

build_model, build_optimizer = lazy_functions("rnn_sweep.train.model", "build_model", "build_optimizer")
pytestmark = pytest.mark.slow  # builds Keras models


@pytest.mark.parametrize(("units", "params"), [(10, 390), (20, 980), (30, 1770)])
def test_simple_rnn_cell_parameter_counts(units, params):
    """The classic tutorial's check: 28*u + u*u + u weights in a SimpleRNN cell on 28 inputs."""
    model = build_model(typed_config("model=simple_rnn", f"model.units={units}").model)
    assert model.get_layer("rnn").count_params() == params
    assert model.count_params() == params + units * 10 + 10
    assert model.input_shape == (None, 28, 28) and model.output_shape == (None, 10)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_default_to_cudnn_eligible_settings(cell):
    """Keras uses the fused cuDNN kernel only with these settings; the defaults must keep them."""
    layer = build_model(typed_config(f"model={cell}").model).get_layer("rnn")
    assert layer.activation.__name__ == "tanh"
    assert layer.recurrent_activation.__name__ == "sigmoid"
    assert layer.dropout == 0 and layer.recurrent_dropout == 0
    assert not layer.unroll and layer.use_bias
    if cell == "gru":
        assert layer.reset_after


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers_get_their_settings(name):
    optimizer = build_optimizer(typed_config(f"optimizer={name}", "optimizer.learning_rate=0.02").optimizer)
    assert type(optimizer).__name__.lower() == name
    assert float(optimizer.learning_rate) == pytest.approx(0.02)


def test_an_error_raised_inside_a_layer_is_recorded_as_raised_not_as_keras_rewrote_it():
    """SLURM's warning signal can reach a run while Keras traces a cell: Keras raises a copy of the error with the
    call's arguments and terminal escape codes around the message. The record keeps the error as raised."""
    import keras
    import numpy as np

    from rnn_sweep.cluster.slurm import SlurmTimeLimit
    from rnn_sweep.train.runner import unwrapped

    said = "TIMEOUT: SLURM signalled that the job's time limit is 40 s away"

    class Stopped(keras.layers.Layer):
        def call(self, inputs):
            raise SlurmTimeLimit(said)

    with pytest.raises(SlurmTimeLimit) as raised:
        Stopped()(np.zeros((1, 28), dtype="float32"))
    assert str(raised.value) != said and "\x1b[1m" in str(raised.value)  # Keras' copy
    assert type(unwrapped(raised.value)) is SlurmTimeLimit and str(unwrapped(raised.value)) == said
    plain = ValueError("not from Keras")
    assert unwrapped(plain) is plain
