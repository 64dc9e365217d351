"""The config schema: the one place that names every key, its type, default and allowed range.

The YAML files in conf/ only pick one of these dataclasses (and, for presets, change a few values);
validation (rnn_sweep.config.validate) reads the rules attached to the fields here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from rnn_sweep.config.cells import CELLS, Cell, cell_entries, resolve

AUTO = "auto"
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw")
DATASETS = ("mnist", "fashion_mnist")
DEVICES = ("auto", "cpu", "gpu")
# How an image becomes a sequence (rnn_sweep.data.sequences): 28 rows, 28 columns, 784 pixels, or 784 shuffled pixels.
SEQUENCES = ("rows", "columns", "pixels", "permuted_pixels")
LR_SCHEDULES = ("constant", "cosine", "one_cycle")
OUTPUT_ACTIVATIONS = ("linear", "softmax")
# Compute dtype of the cells (Keras dtype policies); the output layer and the loss always stay float32.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# Seeds go to NumPy and TensorFlow, which take 32-bit unsigned ones.
MAX_SEED = 2**32 - 1
ACTIVATIONS = (
    "tanh", "relu", "sigmoid", "hard_sigmoid", "linear", "elu", "selu", "gelu", "silu", "swish", "softsign",
)


@dataclass(frozen=True)
class Rule:
    """Range and choice limits for one field; `describe` is what an error message says is allowed."""

    ge: float | None = None
    gt: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: Sequence[str] | None = None
    # For `auto` fields (typed Any, so OmegaConf accepts the word): the type a value other than "auto" must have.
    kind: type | None = None

    def allows(self, value: Any) -> bool:
        if value is None or (self.kind is not None and value == AUTO):
            return True
        if isinstance(value, float) and not math.isfinite(value):
            return False  # NaN passes every comparison, and no setting means anything at infinity
        if self.kind is not None and (type(value) is not self.kind):
            return False
        if self.choices is not None:
            return value in self.choices
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.lt is not None and value >= self.lt)
            or (self.le is not None and value > self.le)
        )

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        bounds = [
            f"{op} {int(bound) if float(bound).is_integer() else format(bound, 'g')}"
            for op, bound in ((">=", self.ge), (">", self.gt), ("<", self.lt), ("<=", self.le))
            if bound is not None
        ]
        if self.kind is bool:
            return f"{AUTO}, true or false"
        if self.kind is not None:
            return f"{AUTO} or an {self.kind.__name__} " + " and ".join(bounds)
        return " and ".join(bounds)


def ruled(default: Any, **limits: Any) -> Any:
    """A dataclass field whose value validation checks against `Rule(**limits)`."""
    return field(default=default, metadata={"rule": Rule(**limits)})


def auto(kind: type, **limits: Any) -> Any:
    """A field (typed Any) that is `auto`, chosen by rnn-sweep (the speed levers per device and cell, by
    rnn_sweep.train.speed), or a `kind` value."""
    return field(default=AUTO, metadata={"rule": Rule(kind=kind, **limits)})


# --- model ------------------------------------------------------------------------------------------


@dataclass
class ModelConfig:
    """Settings shared by every cell; names match the Keras layer arguments they are passed to."""

    cell: str = ruled(MISSING, choices=CELLS)
    units: int = ruled(128, ge=1)
    activation: str = ruled("tanh", choices=ACTIVATIONS)
    use_bias: bool = True
    dropout: float = ruled(0.0, ge=0, lt=1)
    recurrent_dropout: float = ruled(0.0, ge=0, lt=1)
    # Unroll the time loop into straight-line code; auto: where it was measured faster (rnn_sweep.train.speed).
    unroll: Any = auto(bool)
    # Split each batch into this many independent recurrences, run side by side on the CPU's cores; auto: one
    # per core on a CPU where it was measured faster, 1 on a GPU (rnn_sweep.train.layers, rnn_sweep.train.speed).
    batch_shards: Any = auto(int, ge=1)
    # The model around the cell (STRUCTURE_KEYS); everything above is a Keras cell argument.
    layers: int = ruled(1, ge=1)  # stacked cells; all but the last return their whole sequence
    bidirectional: bool = False
    layer_norm: bool = False  # LayerNormalization after each cell; keeps LSTM/GRU cuDNN-eligible
    dense_layers: int = ruled(0, ge=0)  # an extra Dense stack between the cell and the output
    dense_units: int = ruled(128, ge=1)
    dense_activation: str = ruled("relu", choices=ACTIVATIONS)
    head_dropout: float = ruled(0.0, ge=0, lt=1)  # Dropout just before the output layer
    # linear: logits and a from_logits loss; softmax: probabilities, as some tutorials build it.
    output_activation: str = ruled("linear", choices=OUTPUT_ACTIVATIONS)
    # Dense(10) output layers stacked on one another, each with output_activation; the Keras SimpleRNN tutorial
    # stacks two (Dense -> softmax -> Dense -> softmax).
    output_layers: int = ruled(1, ge=1)


@dataclass
class SimpleRNNConfig(ModelConfig):
    cell: str = ruled("simple_rnn", choices=CELLS)


@dataclass
class LSTMConfig(ModelConfig):
    """Defaults are the ones Keras needs for the fused cuDNN kernel on a GPU."""

    cell: str = ruled("lstm", choices=CELLS)
    recurrent_activation: str = ruled("sigmoid", choices=ACTIVATIONS)
    unit_forget_bias: bool = True


@dataclass
class GRUConfig(ModelConfig):
    """Defaults (sigmoid gates, reset_after) are the ones Keras needs for the fused cuDNN kernel."""

    cell: str = ruled("gru", choices=CELLS)
    recurrent_activation: str = ruled("sigmoid", choices=ACTIVATIONS)
    reset_after: bool = True
    # The input projection of all steps as one product before the loop (rnn_sweep.train.layers); auto: on.
    project_inputs: Any = auto(bool)


# --- optimizer --------------------------------------------------------------------------------------


@dataclass
class OptimizerConfig:
    """Settings shared by every optimizer; names match the Keras optimizer arguments."""

    name: str = ruled(MISSING, choices=OPTIMIZERS)
    learning_rate: float = ruled(1e-3, gt=0)
    clipnorm: float | None = ruled(None, gt=0)


@dataclass
class AdamConfig(OptimizerConfig):
    name: str = ruled("adam", choices=OPTIMIZERS)
    beta_1: float = ruled(0.9, ge=0, lt=1)
    beta_2: float = ruled(0.999, ge=0, lt=1)
    epsilon: float = ruled(1e-7, gt=0)
    amsgrad: bool = False


@dataclass
class AdamWConfig(AdamConfig):
    name: str = ruled("adamw", choices=OPTIMIZERS)
    weight_decay: float = ruled(0.004, ge=0)


@dataclass
class SGDConfig(OptimizerConfig):
    name: str = ruled("sgd", choices=OPTIMIZERS)
    learning_rate: float = ruled(0.01, gt=0)
    momentum: float = ruled(0.0, ge=0, le=1)
    nesterov: bool = False


@dataclass
class RMSpropConfig(OptimizerConfig):
    name: str = ruled("rmsprop", choices=OPTIMIZERS)
    rho: float = ruled(0.9, ge=0, lt=1)
    momentum: float = ruled(0.0, ge=0, le=1)
    epsilon: float = ruled(1e-7, gt=0)
    centered: bool = False


OPTIMIZER_SCHEMAS: dict[str, type[OptimizerConfig]] = {
    "adam": AdamConfig,
    "sgd": SGDConfig,
    "rmsprop": RMSpropConfig,
    "adamw": AdamWConfig,
}


# --- data, training, top level ----------------------------------------------------------------------


@dataclass
class DataConfig:
    name: str = ruled("mnist", choices=DATASETS)
    # A folder with the four IDX files (.gz or raw) or an mnist.npz; null falls back to the data set's system
    # folder, then Keras' cache, then Keras' download (rnn_sweep.data.loading.locate_data).
    path: str | None = "${oc.env:RNN_SWEEP_DATA,null}"
    limit_train: int | None = ruled(None, ge=10)
    limit_test: int | None = ruled(None, ge=10)
    # Compare the decoded arrays with canonical MNIST's checksums; turn off for modified data.
    verify: bool = True
    sequence: str = ruled("rows", choices=SEQUENCES)
    # Fixes the pixel order of `permuted_pixels`; kept apart from `seed`, so a seed sweep keeps one task.
    permutation_seed: int = ruled(0, ge=0, le=MAX_SEED)


@dataclass
class FashionMNISTConfig(DataConfig):
    """Zalando's Fashion-MNIST: MNIST's shapes and files, ten kinds of clothing; found through its own variable."""

    name: str = ruled("fashion_mnist", choices=DATASETS)
    path: str | None = "${oc.env:RNN_SWEEP_FASHION_DATA,null}"


DATA_SCHEMAS: dict[str, type[DataConfig]] = {"mnist": DataConfig, "fashion_mnist": FashionMNISTConfig}


@dataclass
class TrainConfig:
    batch_size: int = ruled(128, ge=1)
    epochs: int = ruled(5, ge=1)
    # The share of the training images held out for validation; 0 trains on all of them, without a validation metric.
    validation_split: float = ruled(0.1, ge=0, lt=1)
    shuffle: bool = True
    deterministic: bool = False
    save_model: bool = True
    # Keras' TensorBoard callback writes <run folder>/tensorboard; `tensorboard --logdir` a sweep shows every run.
    tensorboard: bool = False
    device: str = ruled("auto", choices=DEVICES)
    # A training loss above this (chance is ln 10 = 2.3) or NaN/inf stops the run as `diverged`; null: NaN/inf only.
    max_loss: float | None = ruled(100.0, gt=0)
    # Evaluation has no backward pass, so it can use much larger batches than training.
    eval_batch_size: int = ruled(1024, ge=1)
    # Step-based training: this many optimizer steps taken in order through the training set (no shuffling,
    # wrapping round at its end) instead of `epochs`; null trains by epochs.
    steps: int | None = ruled(None, ge=1)
    # Evaluate on the test set every this many steps (printed, and kept in steps.csv); null: only at the end.
    eval_every: int | None = ruled(None, ge=1)
    # The step the first of those evaluations follows (then every eval_every steps); null: eval_every. A loop
    # `for i in range(n): train_on_batch(...); if i % 500 == 0: evaluate()` evaluates after steps 1, 501, ...: 1.
    first_eval_step: int | None = ruled(None, ge=1)
    # Learning rate over the run, peaking at optimizer.learning_rate (rnn_sweep.train.schedules).
    lr_schedule: str = ruled("constant", choices=LR_SCHEDULES)
    # Linear warm-up from near 0 to the peak; one_cycle with 0 here warms up over its first 30% of steps.
    warmup_epochs: float = ruled(0.0, ge=0)
    label_smoothing: float = ruled(0.0, ge=0, lt=1)
    # CPU threads for TensorFlow in each job; null (auto): all cores for one job at a time, and an equal share
    # of them when a launcher runs jobs side by side (joblib: cores / n_jobs; submitit: cpus_per_task).
    threads: int | None = ruled(None, ge=1)
    # How many jobs of a sweep train side by side on this machine's CPU cores, each on an equal share of them (the
    # joblib launcher; rnn_sweep.sweep.parallel): 1 one at a time; auto one per idle core for a grid of small CPU
    # jobs, where one job cannot keep two cores busy, else 1. Not used when the command names a launcher.
    parallel_jobs: Any = auto(int, ge=1)
    # Speed levers (rnn_sweep.train.speed; `python benchmarks/throughput.py` measures them); auto: chosen per device.
    # Training steps per call into TensorFlow; callbacks see every N-th step, so it must divide train.steps
    # and train.eval_every when those are set.
    steps_per_execution: Any = auto(int, ge=1)
    precision: str = ruled("float32", choices=PRECISIONS)
    # XLA-compile the training step; measured slower on CPU, and cuDNN LSTM/GRU kernels cannot be compiled.
    jit_compile: bool = False


@dataclass
class PresetConfig:
    """What a preset in conf/experiment/ reproduces, so results show the published figure beside the measured one."""

    name: str | None = None
    reported_test_accuracy: float | None = ruled(None, ge=0, le=1)  # what the tutorial published
    target_test_accuracy: float | None = ruled(None, ge=0, le=1)  # what a best_* preset is meant to reach
    source: str | None = None
    # What the figures are: the training followed and the data the accuracy is taken on (shown in presets.csv).
    measures: str | None = None
    # Test accuracy the tutorial printed after each of these steps; steps.csv shows it beside the measured one.
    reported_trajectory: dict[int, float] | None = None


@dataclass
class Config:
    model: ModelConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    data: DataConfig = MISSING
    train: TrainConfig = MISSING
    seed: int = ruled(42, ge=0, le=MAX_SEED)
    preset: PresetConfig = field(default_factory=PresetConfig)


# Keys that say where things are, what to keep or how a preset is labelled, not what is trained: they do not
# change a run's identity (and leaving a new one of these out keeps the hashes of older runs unchanged).
# ModelConfig's keys that shape the network around the cell rather than being Keras cell arguments.
STRUCTURE_KEYS = (
    "layers", "bidirectional", "layer_norm", "dense_layers", "dense_units", "dense_activation", "head_dropout",
    "output_activation", "output_layers",
)

NON_IDENTITY_KEYS = (
    "data.path", "train.save_model", "train.tensorboard", "train.threads", "preset", "train.steps_per_execution",
    "model.batch_shards", "train.parallel_jobs",
)
# Keys added after runs were first recorded, with the default that trains what was trained before they existed:
# left out of a run's identity while at that default, so older sweeps keep their config_hash and resume skips
# their finished jobs. A new key of this kind goes here with its default.
LATER_KEYS = {"model.output_layers": 1, "train.first_eval_step": None}


def register() -> None:
    """Make the schemas visible to Hydra, which the YAML files in conf/ extend by name: once per set of registered
    cells, as storing turns every dataclass into a config again (about 50 ms each time)."""
    _register(tuple(cell_entries()))


@functools.cache
def _register(cells: tuple[Cell, ...]) -> None:
    store = ConfigStore.instance()
    store.store(group="schema", name="config", node=Config)
    for cell in cells:
        store.store(group="schema/model", name=cell.name, node=resolve(cell.schema))
    for name, schema in OPTIMIZER_SCHEMAS.items():
        store.store(group="schema/optimizer", name=name, node=schema)
    for name, schema in DATA_SCHEMAS.items():
        store.store(group="schema/data", name=name, node=schema)
    store.store(group="schema/train", name="default", node=TrainConfig)
