"""One trace per graph in a process: jobs that differ only in their seed reuse the compiled model of the first.

Tracing a model's train and evaluate functions costs seconds (more when unrolled), and a sweep's seeds of one
setting build the same graph each time. A later job gets the earlier model back with its state made exactly what
a fresh build with its own seed would have: the weights (and dropout seed states) of a model built now, under that
seed, with the same random draws a fresh build makes; the optimizer's variables as they were before its first step.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Off: every job builds and traces its own model (the identical-results test compares both ways).
ENABLED = True
# How many times each kind of step function was traced in this process ("train", "test", "predict").
traces: Counter[str] = Counter()
_LIMIT = 4  # compiled models kept: a sweep's jobs of one setting come one after another


@dataclass
class _Compiled:
    model: Any
    optimizer_start: list[Any]  # the optimizer's variables before its first step


_cache: dict[str, _Compiled] = {}


def graph_key(cfg: DictConfig, *context: Any) -> str:
    """Everything that decides the graph: the whole config but the seed, and what the run derived beside it."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    settings.pop("seed", None)
    return json.dumps([settings, *context], sort_keys=True, default=str)


def compiled_model(key: str, build: Callable[[], Any], compile_: Callable[[Any], None]) -> Any:
    """A compiled model for `key`: the cached one reset to a fresh build's state, or a new one (then cached)."""
    fresh = build()  # the same random draws as without reuse, so whatever follows draws the same too
    cached = _cache.get(key) if ENABLED else None
    if cached is None:
        compile_(fresh)
        _count_traces(fresh)
        if ENABLED:
            fresh.optimizer.build(fresh.trainable_variables)
            _cache[key] = _Compiled(fresh, [variable.numpy() for variable in fresh.optimizer.variables])
            while len(_cache) > _LIMIT:
                _cache.pop(next(iter(_cache)))
        return fresh
    cached.model.set_weights(fresh.get_weights())
    for variable, start in zip(cached.model.optimizer.variables, cached.optimizer_start, strict=True):
        variable.assign(start)
    return cached.model


def clear() -> None:
    _cache.clear()


def _count_traces(model: Any) -> None:
    """Keras calls a step function only while tracing it into a graph, so a count of calls is a count of traces."""
    for kind in ("train", "test", "predict"):
        step = getattr(model, f"{kind}_step")

        def counted(*args: Any, _step: Any = step, _kind: str = kind) -> Any:
            traces[_kind] += 1
            return _step(*args)

        setattr(model, f"{kind}_step", counted)
