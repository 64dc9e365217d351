"""A search space read from Hydra's sweep syntax, checked before any trial runs. No Optuna here.

`hydra.sweeper.params` (and sweeps typed on the command line) use the syntax of Hydra's grids, read the way
hydra-optuna-sweeper reads it: `choice(a,b)` or `a,b` for choices, `interval(lo,hi)` for floats,
`int(interval(lo,hi))` for ints, `tag(log, ...)` for a log scale, `range(lo,hi,step)` for stepped ints or floats
(Hydra's range: `hi` excluded), `shuffle(...)` for the choice of all its values. A plain `key=value` fixes that
key for every trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep, Transformer
from hydra.errors import OverrideParseException
from omegaconf import DictConfig

from rnn_sweep.errors import ConfigError
from rnn_sweep.sweep.search_settings import check_settings

SYNTAX = ("choice(a,b,...) or a,b,...; interval(low,high) of floats; int(interval(low,high)) of ints; "
          "tag(log, interval(...) or int(interval(...))) with low > 0; range(low,high,step) of ints or floats; "
          "shuffle(range(...)) or shuffle(a,b,...)")


@dataclass(frozen=True)
class Param:
    """One searched key: `kind` is float, int or choice; `step` spaces a range's values (None: any value);
    `choices` as they go back into an override."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def corners(self) -> list[Any]:
        """The values whose configs must all be valid: every choice, or both ends of a range."""
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]


@dataclass(frozen=True)
class SearchSpace:
    params: list[Param]
    fixed: list[str]  # overrides every trial gets, as typed

    def corner_jobs(self) -> list[list[str]]:
        """Job overrides that between them try every corner of every param (the others at their first corner)."""
        first = {param.name: param.corners()[0] for param in self.params}
        jobs = []
        for param in self.params:
            for value in param.corners():
                values = {**first, param.name: value}
                jobs.append([*self.fixed, *(f"{name}={value}" for name, value in values.items())])
        return jobs or [list(self.fixed)]


def search_space(sweeper: DictConfig, arguments: list[str]) -> SearchSpace:
    """The space of `hydra.sweeper.params` with the command line's overrides after it (they win); the sweeper's
    other settings are checked too."""
    check_settings(sweeper)
    params = sweeper.get("params") or {}
    return parse_space([*(f"{key}={value}" for key, value in params.items()), *arguments])


def parse_space(lines: list[str]) -> SearchSpace:
    """The space of `key=sweep` lines; ConfigError (one paragraph, the line and the allowed syntax) if one is bad."""
    try:
        overrides = OverridesParser.create().parse_overrides(lines)
    except OverrideParseException as error:
        why = " ".join(str(error.message).split("See https")[0].split())
        raise ConfigError(f"Cannot read the search space entry {error.override!r} ({why}). Allowed: {SYNTAX}. "
                          "Nothing was run.") from None
    params, fixed = {}, {}
    for override in overrides:
        key = override.get_key_element()
        if override.is_sweep_override():
            params[key] = _param(override)
            fixed.pop(key, None)
        else:
            fixed[key] = override.input_line
            params.pop(key, None)
    if not params:
        raise ConfigError("The search space is empty: give hydra.sweeper.params (e.g. +hparams_search=val_accuracy) "
                          f"or sweep a key on the command line (e.g. model.units=choice(16,32)). Allowed: {SYNTAX}.")
    return SearchSpace(list(params.values()), list(fixed.values()))


def _param(override: Override) -> Param:
    name, value = override.get_key_element(), override.value()
    line = override.input_line
    if isinstance(value, ChoiceSweep):
        return _choice(name, line, tuple(_in_order(override, value)))
    if isinstance(value, RangeSweep):
        shuffled = value.shuffle
        values = list(_in_order(override, value))
        if not values:
            _bad(line, "the range holds no value (Hydra's range excludes its end)")
        if shuffled or value.step < 0:  # shuffle(range()): the choice of all its values, as hydra-optuna-sweeper
            return _choice(name, line, tuple(values))
        if all(isinstance(end, int) for end in (value.start, value.stop, value.step)):
            return Param(name, "int", low=values[0], high=values[-1], step=value.step)
        return Param(name, "float", low=float(values[0]), high=_float_end(values[-1]), step=float(value.step))
    if isinstance(value, IntervalSweep):
        return _interval(name, line, value)
    _bad(line, f"{type(value).__name__} is not a search space")
    raise AssertionError  # _bad raises


def _in_order(override: Override, value: ChoiceSweep | RangeSweep) -> list[Any]:
    """The sweep's values in the order typed: `shuffle` only reorders a grid, and a study resumed with its choices
    in another order would see a different distribution."""
    value.shuffle = False
    return list(override.sweep_iterator(transformer=Transformer.encode))


def _choice(name: str, line: str, choices: tuple[Any, ...]) -> Param:
    if not choices:
        _bad(line, "it has no choices")
    return Param(name, "choice", choices=choices)


def _float_end(value: float) -> float:
    """A float range's last value without the sum's rounding error (0.30000000000000004), which Optuna would
    otherwise warn about and move."""
    return round(float(value), 12)


def _interval(name: str, line: str, value: IntervalSweep) -> Param:
    """`int(interval())` gives ints (Hydra keeps its ends ints), `interval()` floats (Hydra makes its ends floats)."""
    low, high, log = value.start, value.end, "log" in value.tags
    if low > high:
        _bad(line, f"its low end {low:g} is above its high end {high:g}")
    if log and low <= 0:
        _bad(line, f"a log scale needs a low end above 0, not {low:g}")
    if isinstance(low, int) and isinstance(high, int):
        return Param(name, "int", low=low, high=high, log=log)
    return Param(name, "float", low=float(low), high=float(high), log=log)


def _bad(line: str, why: str) -> None:
    raise ConfigError(f"The search space entry {line!r} is not usable: {why}. Allowed: {SYNTAX}. Nothing was run.")
