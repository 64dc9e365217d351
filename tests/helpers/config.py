"""The config as Hydra composes it from conf/, before and after validation, without running the CLI."""

from __future__ import annotations

import copy
import functools

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from rnn_sweep.cluster.configs import register_launchers
from rnn_sweep.config.cells import CELLS
from rnn_sweep.config.paths import conf_dir
from rnn_sweep.config.schema import register
from rnn_sweep.config.validate import validate
from rnn_sweep.sweep.grid import register_grid_sweeper


def compose_config(*overrides: str, hydra: bool = False) -> DictConfig:
    """The config `rnn-sweep OVERRIDES` would compose, as Hydra gives it (not yet validated): composed once per
    session for each set of overrides (and registered cells), each caller getting a copy of its own."""
    return copy.deepcopy(_composed(overrides, hydra, tuple(CELLS)))


@functools.cache
def _composed(overrides: tuple[str, ...], hydra: bool, cells: tuple[str, ...]) -> DictConfig:
    """`cells` is only part of the cache key: a cell registered by a test changes what `model=NAME` composes."""
    register()
    register_launchers()
    register_grid_sweeper()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


def typed_config(*overrides: str) -> DictConfig:
    """The composed config after validation, as a job receives it."""
    return validate(compose_config(*overrides))
