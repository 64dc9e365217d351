"""The config schema: the one place that names every key, its type, default and allowed range.

The YAML files in conf/ only pick one of these dataclasses (and, for presets, change a few values);
validation (rnn_sweep.validate) reads the rules attached to the fields here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

CELLS = ("simple_rnn", "lstm", "gru")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw")
DATASETS = ("mnist",)
DEVICES = ("auto", "cpu", "gpu")
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
    choices: tuple[str, ...] | None = None

    def allows(self, value: Any) -> bool:
        if value is None:
            return True
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
            f"{op} {bound:g}"
            for op, bound in ((">=", self.ge), (">", self.gt), ("<", self.lt), ("<=", self.le))
            if bound is not None
        ]
        return " and ".join(bounds)


def ruled(default: Any, **limits: Any) -> Any:
    """A dataclass field whose value validation checks against `Rule(**limits)`."""
    return field(default=default, metadata={"rule": Rule(**limits)})


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
    unroll: bool = False


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


MODEL_SCHEMAS: dict[str, type[ModelConfig]] = {
    "simple_rnn": SimpleRNNConfig,
    "lstm": LSTMConfig,
    "gru": GRUConfig,
}


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
    # A folder with the four IDX files (.gz or raw) or an mnist.npz; null falls back to Keras' cache/download.
    path: str | None = "${oc.env:RNN_SWEEP_DATA,null}"
    limit_train: int | None = ruled(None, ge=10)
    limit_test: int | None = ruled(None, ge=10)
    # Compare the decoded arrays with canonical MNIST's checksums; turn off for modified data.
    verify: bool = True


@dataclass
class TrainConfig:
    batch_size: int = ruled(128, ge=1)
    epochs: int = ruled(5, ge=1)
    validation_split: float = ruled(0.1, gt=0, lt=1)
    shuffle: bool = True
    deterministic: bool = False
    save_model: bool = True
    device: str = ruled("auto", choices=DEVICES)
    # A training loss above this (chance is ln 10 = 2.3) or NaN/inf stops the run as `diverged`; null: NaN/inf only.
    max_loss: float | None = ruled(100.0, gt=0)
    # Evaluation has no backward pass, so it can use much larger batches than training.
    eval_batch_size: int = ruled(1024, ge=1)
    # CPU threads for TensorFlow in each job; null (auto): all cores for one job at a time, and an equal share
    # of them when a launcher runs jobs side by side (joblib: cores / n_jobs; submitit: cpus_per_task).
    threads: int | None = ruled(None, ge=1)


@dataclass
class Config:
    model: ModelConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    data: DataConfig = MISSING
    train: TrainConfig = MISSING
    seed: int = ruled(42, ge=0)


# Keys that say where things are or what to keep, not what is trained: they do not change a run's identity.
NON_IDENTITY_KEYS = ("data.path", "train.save_model", "train.threads")


def register() -> None:
    """Make the schemas visible to Hydra, which the YAML files in conf/ extend by name."""
    store = ConfigStore.instance()
    store.store(group="schema", name="config", node=Config)
    for name, schema in MODEL_SCHEMAS.items():
        store.store(group="schema/model", name=name, node=schema)
    for name, schema in OPTIMIZER_SCHEMAS.items():
        store.store(group="schema/optimizer", name=name, node=schema)
    store.store(group="schema/data", name="mnist", node=DataConfig)
    store.store(group="schema/train", name="default", node=TrainConfig)
