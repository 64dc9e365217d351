"""Build the classifier and its optimizer from the config (imports Keras, so only the training path uses it)."""

from __future__ import annotations

from typing import Any

import keras
from omegaconf import DictConfig, OmegaConf

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28)  # 28 time steps of 28 pixels

CELL_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}
OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adamw": keras.optimizers.AdamW,
}


# Model keys that shape the network around the cell rather than being Keras cell arguments, with the defaults
# that configs saved before these keys existed get (validate() fills them in for new ones).
STRUCTURE_DEFAULTS = {
    "layers": 1, "bidirectional": False, "layer_norm": False, "dense_layers": 0, "dense_units": 128,
    "dense_activation": "relu", "head_dropout": 0.0, "output_activation": "linear",
}


def build_model(model_cfg: DictConfig, input_shape: tuple[int, int] = INPUT_SHAPE) -> keras.Model:
    """Input -> the recurrent cell(s) -> optional Dense stack -> Dense(10); every other model key is a cell argument.

    The first cell is named `rnn` (then rnn_2, ...), so its parameters can be counted on their own.
    """
    settings = OmegaConf.to_container(model_cfg, resolve=True)
    cell = settings.pop("cell")
    units = settings.pop("units")
    shape = {key: settings.pop(key, default) for key, default in STRUCTURE_DEFAULTS.items()}
    inputs = keras.Input(shape=input_shape, name="sequence")
    features = inputs
    for index in range(shape["layers"]):
        name = "rnn" if index == 0 else f"rnn_{index + 1}"
        last = index == shape["layers"] - 1
        layer = CELL_LAYERS[cell](units, return_sequences=not last, name=name, **settings)
        if shape["bidirectional"]:
            layer = keras.layers.Bidirectional(layer, name=name)
        features = layer(features)
        if shape["layer_norm"]:
            features = keras.layers.LayerNormalization(name=f"norm_{index + 1}")(features)
    for index in range(shape["dense_layers"]):
        features = keras.layers.Dense(shape["dense_units"], activation=shape["dense_activation"],
                                      name=f"dense_{index + 1}")(features)
    if shape["head_dropout"]:
        features = keras.layers.Dropout(shape["head_dropout"], name="head_dropout")(features)
    output_activation = shape["output_activation"]
    outputs = keras.layers.Dense(NUM_CLASSES, activation=output_activation,
                                 name="logits" if output_activation == "linear" else output_activation)(features)
    return keras.Model(inputs, outputs, name=f"{cell}_{units}")


def build_optimizer(optimizer_cfg: DictConfig, learning_rate: Any = None) -> keras.optimizers.Optimizer:
    """The Keras optimizer; `learning_rate` (a float or a schedule) replaces the configured one when given."""
    settings = OmegaConf.to_container(optimizer_cfg, resolve=True)
    if learning_rate is not None:
        settings["learning_rate"] = learning_rate
    return OPTIMIZERS[settings.pop("name")](**settings)


def compile_model(
    model: keras.Model,
    optimizer_cfg: DictConfig,
    learning_rate: Any = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
) -> None:
    """Sparse labels as usual; with label smoothing the labels must be one-hot (see `one_hot_labels`),
    because Keras 3's SparseCategoricalCrossentropy has no label_smoothing."""
    if label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    model.compile(optimizer=build_optimizer(optimizer_cfg, learning_rate), loss=loss, metrics=[accuracy])


def one_hot_labels(labels: Any, label_smoothing: float) -> Any:
    """The labels as the loss chosen by `compile_model` wants them."""
    return keras.utils.to_categorical(labels, NUM_CLASSES).astype("float32") if label_smoothing else labels
