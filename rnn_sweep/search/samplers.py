"""The search's Optuna sampler, from `hydra.sweeper.sampler` ({_target_: optuna.samplers.<Name>, seed, ...}), as
hydra-optuna-sweeper makes it; checked before any trial runs, so a bad one exits 2 with one paragraph."""

from __future__ import annotations

import functools
import importlib.util
import inspect
from typing import Any

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from rnn_sweep.errors import ConfigError
from rnn_sweep.search.settings import SAMPLER_GROUPS

# Samplers that import a package Optuna does not depend on, only when they first sample: checked up front.
NEEDS = {
    "optuna.samplers.CmaEsSampler": ("cmaes",),
    "optuna.samplers.GPSampler": ("torch", "scipy"),
    "optuna.samplers.QMCSampler": ("scipy",),
}
GRID = "optuna.samplers.GridSampler"
# Far more trials than a study holds: the seeds of two workers never meet, however many trials either had seen.
WORKER_SEED_STRIDE = 2**20
_GROUPS = ", ".join(f"hydra/sweeper/sampler={name}" for name in SAMPLER_GROUPS)


def check_sampler(sampler: DictConfig | None) -> None:
    """ConfigError unless `sampler` names an Optuna sampler class that takes its arguments and can run here."""
    target = None if sampler is None else sampler.get("_target_")
    if not target:
        raise ConfigError(f"hydra.sweeper.sampler has no _target_: pick one with {_GROUPS}, or give "
                          "hydra.sweeper.sampler._target_=optuna.samplers.<Name>. Nothing was run.")
    import optuna

    try:
        cls = get_class(str(target))
    except Exception:  # Hydra wraps import and attribute errors alike
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, optuna.samplers.BaseSampler)):
        raise ConfigError(f"hydra.sweeper.sampler._target_={target} is not an Optuna sampler class: use one of "
                          f"{', '.join(SAMPLER_GROUPS.values())} (or {_GROUPS}). Nothing was run.")
    allowed = [name for name in inspect.signature(cls.__init__).parameters if name not in ("self", "args", "kwargs")]
    unknown = [key for key in sampler if key != "_target_" and key not in allowed]
    if unknown:
        raise ConfigError(f"hydra.sweeper.sampler.{unknown[0]} is not an argument of {cls.__name__}: it takes "
                          f"{', '.join(allowed)}. A sampler is chosen with {_GROUPS}. Nothing was run.")
    missing = [package for package in NEEDS.get(_full_name(cls), ()) if importlib.util.find_spec(package) is None]
    if missing:
        raise ConfigError(f"{cls.__name__} needs the Python package {missing[0]}, which is not installed: "
                          f"pip install {missing[0]} (or pick another sampler: {_GROUPS}). Nothing was run.")


def make_sampler(sampler: DictConfig, params: list[Any], trials_so_far: int, worker: int = 0) -> Any:
    """The sampler, seeded with its seed + `trials_so_far`, so a resumed search does not ask its first trials again,
    + `worker` (study_workers.worker_slot) times WORKER_SEED_STRIDE, so workers that open the study at the same moment
    (the same trials so far) do not ask the same trials; a grid sampler gets every value of `params` (the space's
    Params) unless the config gives its own search_space."""
    check_sampler(sampler)
    arguments: dict[str, Any] = {}
    if sampler.get("seed") is not None:
        arguments["seed"] = (int(sampler.seed) + trials_so_far + worker * WORKER_SEED_STRIDE) % 2**32
    if _full_name(get_class(sampler._target_)) == GRID:
        config = OmegaConf.to_container(sampler, resolve=True)
        assert isinstance(config, dict)
        config.pop("_target_")
        grid = config.pop("search_space", None) or grid_of(params)
        return _grid_sampler_class()(search_space=grid, **config, **arguments)
    return instantiate(sampler, **arguments, _convert_="all")


def grid_of(params: list[Any]) -> dict[str, list[Any]]:
    """Every value of every searched key, for the grid sampler; ConfigError for a continuous range."""
    grid = {}
    for param in params:
        if param.kind == "choice":
            grid[param.name] = list(param.choices)
        elif param.step is not None:
            count = round((param.high - param.low) / param.step) + 1
            grid[param.name] = [param.low + index * param.step for index in range(count)]
        elif param.kind == "int" and not param.log:
            grid[param.name] = list(range(int(param.low), int(param.high) + 1))
        else:
            raise ConfigError(f"The grid sampler needs a finite set of values, but {param.name} is a continuous "
                              "range: give it as choice(...) or range(low,high,step), or pick another sampler "
                              f"({_GROUPS}). Nothing was run.")
    return grid


def grid_size(sampler: Any) -> int | None:
    """How many trials the grid holds (the search stops there, as hydra-optuna-sweeper's does); None: no grid."""
    import optuna

    if not isinstance(sampler, optuna.samplers.GridSampler):
        return None
    size = 1
    for values in sampler._search_space.values():
        size *= len(values)
    return size


def _full_name(cls: type) -> str:
    """The public name Optuna documents (optuna.samplers.X), whatever submodule defines the class."""
    import optuna

    public = getattr(optuna.samplers, cls.__name__, None)
    return f"optuna.samplers.{cls.__name__}" if public is cls else f"{cls.__module__}.{cls.__qualname__}"


@functools.cache
def _grid_sampler_class() -> type:
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler without its `study.stop()` once the grid is done: that works only inside
        `study.optimize`, and the sweeper stops asking by itself (n_trials is capped at the grid's size)."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return GridSampler
