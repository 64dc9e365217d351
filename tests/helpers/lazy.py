"""Names of TensorFlow-backed modules that a test file can hold without collecting it loading TensorFlow.

Collection imports every test file, also under `-m "not slow"`; a module-level `import keras` would cost the fast
tier seconds (tests/helpers/tensorflow_guard.py refuses it). These import on first use, inside a slow test.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


class LazyModule:
    """The module `name`, imported when an attribute is first read: `keras = LazyModule("keras")`."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):  # pytest's collection probes every module-level object for its own markers
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self._name), attribute)


def lazy_functions(module: str, *names: str) -> tuple[Callable[..., Any], ...]:
    """Functions of `module` that import it when first called: `build_model, = lazy_functions(...)`."""

    def lazy(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module(module), name)(*args, **kwargs)

        call.__name__ = name
        return call

    return tuple(lazy(name) for name in names)
