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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import keras
from omegaconf import DictConfig, OmegaConf
from tensorflow.python.eager import context as tf_context

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
    # The model's variables are its weights and its dropout layers' seed generator states (get_weights would leave
    # the states where the last job's fit moved them, and every later mask would differ from a fresh build's).
    for variable, start in zip([*cached.variables, *cached.optimizer.variables],
                               [*fresh.variables, *fresh.optimizer.variables], strict=True):
        variable.assign(start.numpy())
    return cached


def set_random_seed(seed: int) -> None:
    """keras.utils.set_random_seed, keeping TensorFlow's kernel cache.

    tf.random.set_seed empties that cache so that a random kernel run eagerly before starts its stream again, and
    with it every instantiated step function: a reused model then instantiates its train, evaluate and predict
    functions again, 0.3 s of a GRU-32 job's first epoch. A job draws no random number from a cached kernel (Keras'
    random ops are stateless, fed by its seed generators; tf.data's shuffle lives in functions traced anew for
    each fit), so keeping the cache changes no result: test_trace_reuse trains one seed twice in a process and
    compares every number with fresh builds.
    """
    with _kernel_cache_kept():
        keras.utils.set_random_seed(seed)


@contextmanager
def _kernel_cache_kept() -> Iterator[None]:
    """While Keras seeds TensorFlow, the binding that empties the kernel cache does nothing: tf.random.set_seed
    calls it through this module (as clear_session does, which no job calls)."""
    bindings = tf_context.pywrap_tfe
    clear_caches = bindings.TFE_ContextClearCaches
    bindings.TFE_ContextClearCaches = lambda handle: None
    try:
        yield
    finally:
        bindings.TFE_ContextClearCaches = clear_caches


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
