"""A new cell is one registry entry: this test adds a fourth one, a `keras.layers.RNN` over a minimal cell of its own
(h = tanh(x W + h U + b)), and takes it through validation, training, the sweep's tables and compare, with no change
anywhere else. Its ConfigStore entry plays the part of conf/model/minimal.yaml.

It runs the CLI in this process (`rnn_sweep.cli.run`), where the registration lives, so it loads TensorFlow: slow.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pandas as pd
import pytest
from helpers.config import typed_config
from helpers.runs import TINY
from hydra.core.config_store import ConfigStore

from rnn_sweep.config.cells import CELLS, Cell, register_cell, unregister_cell
from rnn_sweep.config.schema import ModelConfig, register, ruled
from rnn_sweep.errors import ConfigError

pytestmark = pytest.mark.slow


@dataclass
class MinimalConfig(ModelConfig):
    cell: str = ruled("minimal", choices=CELLS)


def minimal_rnn() -> type:
    """The layer, built only when a model is (so collecting this file loads no Keras)."""
    import keras
    from keras import ops

    class MinimalCell(keras.layers.Layer):
        def __init__(self, units, activation="tanh", use_bias=True, dropout=0.0, recurrent_dropout=0.0, **kwargs):
            super().__init__(**kwargs)
            self.units = self.state_size = self.output_size = units
            self.activation, self.use_bias = keras.activations.get(activation), use_bias

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="orthogonal",
                                                    name="recurrent_kernel")
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias") if self.use_bias else 0

        def call(self, inputs, states):
            h = self.activation(ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel)
                                + self.bias)
            return h, [h]

    class MinimalRNN(keras.layers.RNN):
        def __init__(self, units, activation="tanh", use_bias=True, dropout=0.0, recurrent_dropout=0.0, **kwargs):
            super().__init__(MinimalCell(units, activation, use_bias), **kwargs)

    return MinimalRNN


@pytest.fixture
def minimal_cell():
    register_cell(Cell("minimal", MinimalConfig, layer=minimal_rnn, gates=1))
    register()
    ConfigStore.instance().store(group="model", name="minimal", node=MinimalConfig)
    yield
    unregister_cell("minimal")


def _cli(*args: str) -> int:
    from rnn_sweep.cli import run

    argv = sys.argv
    try:
        return run(list(args))
    finally:
        sys.argv = argv


def test_a_fourth_cell_validates_trains_and_reaches_the_tables_and_compare(minimal_cell, mnist_path, tmp_path,
                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNN_SWEEP_DATA", mnist_path)
    # Validation: the new cell's keys are checked like any other's, and it is among the choices errors list.
    assert typed_config("model=minimal", "model.units=4").model.cell == "minimal"
    with pytest.raises(ConfigError, match="Allowed model options: simple_rnn, lstm, gru, minimal"):
        typed_config("model=minimal", "model.cell=nope")

    sweep_a, sweep_b = tmp_path / "a", tmp_path / "b"
    assert _cli("-m", "model=minimal,simple_rnn", *TINY, "seed=1", f"hydra.sweep.dir={sweep_a}") == 0
    results = pd.read_csv(sweep_a / "results.csv")
    minimal = results[results["cell"] == "minimal"]
    assert len(minimal) == 1 and minimal["status"].iloc[0] == "ok"
    assert 0 <= minimal["test_accuracy"].iloc[0] <= 1 and minimal["epochs_completed"].iloc[0] == 2
    assert "minimal" in set(pd.read_csv(sweep_a / "accuracy.csv")["cell"])

    assert _cli("-m", "model=minimal", *TINY, "seed=2", f"hydra.sweep.dir={sweep_b}") == 0
    out = tmp_path / "compare.csv"
    assert _cli("compare", str(sweep_a), str(sweep_b), "--csv", str(out)) == 0
    compared = pd.read_csv(out)
    row = compared[compared["cell"] == "minimal"]
    assert len(row) == 1 and row["match"].iloc[0] == "both", compared.to_string()
    assert row[["test_accuracy_a", "test_accuracy_b"]].notna().all(axis=None) and row["n_a"].iloc[0] == 1
