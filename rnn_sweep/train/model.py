"""Build the classifier and its optimizer from the config (imports Keras, so only the training path uses it)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import keras
from omegaconf import DictConfig, OmegaConf

from rnn_sweep.config.cells import cell_entry, resolve
from rnn_sweep.config.schema import STRUCTURE_KEYS, ModelConfig
from rnn_sweep.errors import ConfigError
from rnn_sweep.train.schedules import PeakSchedule

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28)  # 28 time steps of 28 pixels

# Keras' optimizers by the lower-case class name the schema's OPTIMIZERS use (adam, sgd, rmsprop, adamw).
OPTIMIZERS = {
    name.lower(): optimizer for name, optimizer in vars(keras.optimizers).items()
    if isinstance(optimizer, type) and issubclass(optimizer, keras.optimizers.Optimizer)
}
# The optimizer settings a train step reads from variables (build_optimizer's settings_in_variables).
VARIABLE_SETTINGS = ("learning_rate", "weight_decay")
# adamw is adam's update after a weight decay, which the adam optimizers hold in a variable (0 for adam), so both
# share one traced train step. Weight decay by 0 leaves every weight exactly as it was.
UPDATE_RULES = {"adamw": "adam"}
# The structure keys with the schema's defaults, which configs saved before a key existed get.
STRUCTURE_DEFAULTS = {field.name: field.default for field in dataclasses.fields(ModelConfig)
                      if field.name in STRUCTURE_KEYS}


def build_model(
    model_cfg: DictConfig,
    input_shape: tuple[int, int] = INPUT_SHAPE,
    unroll: bool = False,
    precision: str = "float32",
    project_inputs: bool = False,
    batch_shards: int = 1,
) -> keras.Model:
    """Input -> the recurrent cell(s) -> optional Dense stack -> Dense(10) (output_layers of them); every other
    model key is a cell argument.

    `unroll`, `project_inputs` and `batch_shards` replace the model keys of those names, which may say `auto`
    (rnn_sweep.train.speed resolves them); `project_inputs` picks the cell's projected layer (GRU: ProjectedGRU),
    and more than one batch shard its sharded layer (rnn_sweep.config.cells). Every layer computes in
    `precision` (a Keras dtype policy) except the output layer, which stays float32 so the softmax and the
    loss do not lose precision.
    The first cell is named `rnn` (then rnn_2, ...), so its parameters can be counted on their own.
    """
    settings = OmegaConf.to_container(model_cfg, resolve=True)
    cell = settings.pop("cell")
    units = settings.pop("units")
    settings.update(unroll=unroll, dtype=precision)
    settings.pop("project_inputs", None)
    settings.pop("batch_shards", None)
    shape = {key: settings.pop(key, default) for key, default in STRUCTURE_DEFAULTS.items()}
    cell_layer = cell_layer_class(cell, project_inputs, batch_shards)
    if batch_shards > 1:
        cell_layer = functools.partial(cell_layer, shards=batch_shards)
    inputs = keras.Input(shape=input_shape, name="sequence")
    features = inputs
    for index in range(shape["layers"]):
        name = "rnn" if index == 0 else f"rnn_{index + 1}"
        last = index == shape["layers"] - 1
        layer = cell_layer(units, return_sequences=not last, name=name, **settings)
        if shape["bidirectional"]:
            layer = keras.layers.Bidirectional(layer, name=name, dtype=precision)
        features = layer(features)
        if shape["layer_norm"]:
            features = keras.layers.LayerNormalization(name=f"norm_{index + 1}", dtype=precision)(features)
    for index in range(shape["dense_layers"]):
        features = keras.layers.Dense(shape["dense_units"], activation=shape["dense_activation"],
                                      name=f"dense_{index + 1}", dtype=precision)(features)
    if shape["head_dropout"]:
        features = keras.layers.Dropout(shape["head_dropout"], name="head_dropout", dtype=precision)(features)
    output_activation = shape["output_activation"]
    name = "logits" if output_activation == "linear" else output_activation
    for index in range(shape["output_layers"]):
        last = index == shape["output_layers"] - 1
        features = keras.layers.Dense(NUM_CLASSES, activation=output_activation, dtype="float32",
                                      name=name if last else f"{name}_{index + 1}")(features)
    return keras.Model(inputs, features, name=f"{cell}_{units}")


def cell_layer_class(cell: str, project_inputs: bool = False, batch_shards: int = 1) -> type:
    """The Keras layer class of the registered `cell` (rnn_sweep.config.cells), in its projected and sharded forms
    where asked for and the cell has them."""
    entry = cell_entry(cell)
    projected = project_inputs and entry.projected is not None
    if batch_shards == 1:
        return resolve(entry.projected if projected else entry.layer)
    sharded = entry.sharded_projected if projected else entry.sharded
    if sharded is None:
        raise ConfigError(f"model.batch_shards={batch_shards}, but the {cell} cell has no sharded layer. "
                          "Use model.batch_shards=1 or auto.")
    return resolve(sharded)


def portable_copy(model: keras.Model, model_cfg: DictConfig, input_shape: tuple[int, int]) -> keras.Model:
    """The same network built from Keras' own layers only (float32), so model.keras loads without rnn-sweep."""
    plain = build_model(model_cfg, input_shape, unroll=False)
    plain.set_weights(model.get_weights())
    return plain


def build_optimizer(
    optimizer_cfg: DictConfig, learning_rate: Any = None, settings_in_variables: bool = False
) -> keras.optimizers.Optimizer:
    """The Keras optimizer; `learning_rate` (a float or a schedule) replaces the configured one when given.

    `settings_in_variables`: what jobs of one graph may differ in (VARIABLE_SETTINGS) is read by the train step
    from the optimizer's variables instead of being traced into it as constants: a plain learning rate already
    is (Keras), a schedule's learning rates and the weight decay are made so here, the weight decay at 0 for adam.
    A traced train step then serves every job of the graph once its optimizer's variables are set to a fresh
    build's (rnn_sweep.train.reuse). Not for an optimizer that is saved: its config would hold a variable.
    """
    settings = OmegaConf.to_container(optimizer_cfg, resolve=True)
    if learning_rate is not None:
        settings["learning_rate"] = learning_rate
    name = settings.pop("name")
    optimizer = OPTIMIZERS[name](**settings)
    if settings_in_variables:
        if isinstance(learning_rate, PeakSchedule):
            learning_rate.hold_levels_in(optimizer)
        if UPDATE_RULES.get(name, name) == "adam":
            optimizer.weight_decay = optimizer.add_variable(
                (), keras.initializers.Constant(settings.get("weight_decay", 0.0)), name="weight_decay")
    return optimizer


def traced_optimizer(optimizer_cfg: DictConfig) -> dict[str, Any]:
    """What of the optimizer a train step built with settings in variables is traced from: its update rule and
    the settings that stay constants in it. Jobs that agree on it (and on the model) can share one trace."""
    settings = OmegaConf.to_container(optimizer_cfg, resolve=True)
    for key in VARIABLE_SETTINGS:
        settings.pop(key, None)
    settings["name"] = UPDATE_RULES.get(settings["name"], settings["name"])
    return settings


def compile_model(
    model: keras.Model,
    optimizer_cfg: DictConfig,
    learning_rate: Any = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    precision: str = "float32",
    settings_in_variables: bool = False,
    **compile_options: Any,
) -> None:
    """Sparse labels as usual; with label smoothing the labels must be one-hot (see `one_hot_labels`),
    because Keras 3's SparseCategoricalCrossentropy has no label_smoothing.

    float16 gradients underflow without loss scaling (bfloat16 has float32's range and needs none).
    `compile_options` go to Keras (steps_per_execution, jit_compile); `settings_in_variables`: see build_optimizer.
    """
    optimizer = build_optimizer(optimizer_cfg, learning_rate, settings_in_variables)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    if label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    model.compile(optimizer=optimizer, loss=loss, metrics=[accuracy], **compile_options)


def one_hot_labels(labels: Any, label_smoothing: float) -> Any:
    """The labels as the loss chosen by `compile_model` wants them."""
    return keras.utils.to_categorical(labels, NUM_CLASSES).astype("float32") if label_smoothing else labels
