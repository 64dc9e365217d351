"""One trace per graph in a process: jobs that build the same graph reuse the compiled model of the first.

Tracing a model's train and evaluate functions costs seconds (more when unrolled), and a sweep's seeds of one
setting, its learning rates and its adam against adamw build the same graph each time: what they differ in is
held in variables (the weights, the optimizer's learning rate, schedule and weight decay: model.build_optimizer).
A later job gets the earlier model back with every variable made exactly what a fresh build with its own seed and
config has: the weights (and dropout seed states) of a model built now, under that seed, with the same random
draws a fresh build makes; the optimizer's variables those of an optimizer built now from its config.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnn_sweep.train.model import traced_optimizer

# Off: every job builds and traces its own model (the identical-results test compares both ways).
ENABLED = True
# How many times each kind of step function was traced in this process ("train", "test", "predict").
traces: Counter[str] = Counter()
_LIMIT = 4  # compiled models kept: a sweep's jobs of one setting come one after another

_cache: dict[str, Any] = {}


def graph_key(cfg: DictConfig, *context: Any) -> str:
    """Everything that decides the graph: the whole config but the seed and the optimizer settings held in
    variables, and what the run derived beside it."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    settings.pop("seed", None)
    settings["optimizer"] = traced_optimizer(cfg.optimizer)
    return json.dumps([settings, *context], sort_keys=True, default=str)


def compiled_model(key: str, build: Callable[[], Any], compile_: Callable[[Any], None]) -> Any:
    """A compiled model for `key`: the cached one set to a fresh build's state, or a new one (then cached)."""
    fresh = build()  # the same random draws as without reuse, so whatever follows draws the same too
    compile_(fresh)  # no tracing: Keras traces at the first fit
    fresh.optimizer.build(fresh.trainable_variables)  # its variables as they are before the first step
    cached = _cache.get(key) if ENABLED else None
    if cached is None:
        _count_traces(fresh)
        if ENABLED:
            _cache[key] = fresh
            while len(_cache) > _LIMIT:
                _cache.pop(next(iter(_cache)))
        return fresh
    cached.set_weights(fresh.get_weights())
    for variable, start in zip(cached.optimizer.variables, fresh.optimizer.variables, strict=True):
        variable.assign(start.numpy())
    return cached


def clear() -> None:
    _cache.clear()


def traces_so_far() -> int:
    return sum(traces.values())


def _count_traces(model: Any) -> None:
    """Keras calls a step function only while tracing it into a graph, so a count of calls is a count of traces."""
    for kind in ("train", "test", "predict"):
        step = getattr(model, f"{kind}_step")

        def counted(*args: Any, _step: Any = step, _kind: str = kind) -> Any:
            traces[_kind] += 1
            return _step(*args)

        setattr(model, f"{kind}_step", counted)
