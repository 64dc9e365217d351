"""The recurrent cells rnn-sweep trains, one registry entry each: everything the rest of the code asks of a cell.

An entry is pure data, so config/ stays free of TensorFlow: the Keras layers are named by a dotted path (or a
factory function), which only rnn_sweep.train resolves. A new cell is one entry here, its layer, its
conf/model/NAME.yaml and, when it has keys of its own, its dataclass in rnn_sweep.config.schema
(docs/architecture.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rnn_sweep.errors import ConfigError

# A class, given as itself, as "package.module.Class", or as a function returning it; resolved only when needed,
# so naming a Keras layer here imports no TensorFlow.
ClassRef = type | str | Callable[[], type]


@dataclass(frozen=True)
class Cell:
    name: str
    # The ModelConfig dataclass of the cell's keys and defaults (rnn_sweep.config.schema).
    schema: ClassRef
    # The Keras RNN layer, called as layer(units, return_sequences=..., name=..., **the cell's keys).
    layer: ClassRef
    # Weight blocks in the recurrent kernel (units x gates*units): how much arithmetic a time step has, which
    # decides whether splitting the batch pays (rnn_sweep.train.speed).
    gates: int
    # Keras runs the layer with a fused cuDNN kernel on a GPU, which `unroll` would rule out.
    cudnn: bool = False
    # The layer split into batch shards (rnn_sweep.train.layers); None: the cell always trains unsharded.
    sharded: ClassRef | None = None
    # A faster layer with the same weights that projects all inputs before the loop (model.project_inputs), and
    # its sharded form; None: the cell has no such variant.
    projected: ClassRef | None = None
    sharded_projected: ClassRef | None = None


_REGISTRY: dict[str, Cell] = {}


class _CellNames(Sequence[str]):
    """The registered cell names in registration order, read live: the schema's `model.cell` rule and the error
    messages see a cell registered after the schema was defined."""

    def __getitem__(self, index):  # type: ignore[override]
        return list(_REGISTRY)[index]

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __iter__(self) -> Iterator[str]:
        return iter(list(_REGISTRY))

    def __contains__(self, name: object) -> bool:
        return name in _REGISTRY

    def __repr__(self) -> str:
        return repr(tuple(_REGISTRY))


CELLS: Sequence[str] = _CellNames()


def register_cell(cell: Cell) -> None:
    """Add (or replace) the cell `cell.name`; rnn_sweep.config.schema.register then shows its schema to Hydra."""
    _REGISTRY[cell.name] = cell


def unregister_cell(name: str) -> None:
    _REGISTRY.pop(name, None)


def cell_entry(name: str) -> Cell:
    """The registered cell `name`; a ConfigError listing the registered ones for any other."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown model.cell {name!r}. Registered cells: {', '.join(_REGISTRY)}.") from None


def cell_entries() -> list[Cell]:
    return list(_REGISTRY.values())


def resolve(ref: ClassRef) -> Any:
    """The class a registry entry refers to: itself, imported from its dotted name, or returned by its factory."""
    if isinstance(ref, type):
        return ref
    if isinstance(ref, str):
        module, _, name = ref.rpartition(".")
        return getattr(importlib.import_module(module), name)
    return ref()


# The built-in cells: Keras' own layers, and rnn_sweep.train.layers' faster forms of them.
_SCHEMA, _LAYERS = "rnn_sweep.config.schema", "rnn_sweep.train.layers"
register_cell(Cell("simple_rnn", f"{_SCHEMA}.SimpleRNNConfig", layer="keras.layers.SimpleRNN", gates=1,
                   sharded=f"{_LAYERS}.ShardedSimpleRNN"))
register_cell(Cell("lstm", f"{_SCHEMA}.LSTMConfig", layer="keras.layers.LSTM", gates=4, cudnn=True,
                   sharded=f"{_LAYERS}.ShardedLSTM"))
register_cell(Cell("gru", f"{_SCHEMA}.GRUConfig", layer="keras.layers.GRU", gates=3, cudnn=True,
                   sharded=f"{_LAYERS}.ShardedGRU", projected=f"{_LAYERS}.ProjectedGRU",
                   sharded_projected=f"{_LAYERS}.ShardedProjectedGRU"))
