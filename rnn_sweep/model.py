"""Build the classifier and its optimizer from the config (imports Keras, so only the training path uses it)."""

from __future__ import annotations

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


def build_model(model_cfg: DictConfig) -> keras.Model:
    """Input (28, 28) -> the recurrent cell -> Dense(10) logits; every other model key is a layer argument."""
    settings = OmegaConf.to_container(model_cfg, resolve=True)
    cell = settings.pop("cell")
    units = settings.pop("units")
    inputs = keras.Input(shape=INPUT_SHAPE, name="rows")
    features = CELL_LAYERS[cell](units, name="rnn", **settings)(inputs)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(features)
    return keras.Model(inputs, logits, name=f"{cell}_{units}")


def build_optimizer(optimizer_cfg: DictConfig) -> keras.optimizers.Optimizer:
    settings = OmegaConf.to_container(optimizer_cfg, resolve=True)
    return OPTIMIZERS[settings.pop("name")](**settings)


def compile_model(model: keras.Model, optimizer_cfg: DictConfig) -> None:
    model.compile(
        optimizer=build_optimizer(optimizer_cfg),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
