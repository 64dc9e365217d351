"""The race sweeper's config, registered as `hydra/sweeper=race`; the keys users set under `hydra.sweeper`.

No `from __future__ import annotations` here: Hydra's plugin scan runs this module before it is in sys.modules,
where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore

RACE_SWEEPER_TARGET = "hydra_plugins.rnn_sweep_race.race_sweeper.RaceSweeper"


@dataclass
class RaceSweeperConf:
    _target_: str = RACE_SWEEPER_TARGET
    min_seeds: int = 3  # seeds every setting gets in round 1 (>= 2: a test needs a spread)
    max_seeds: int = 10  # the most seeds any setting gets; the race stops there
    alpha: float = 0.05  # the chance of any false `worse` (or `better`) over the whole race
    margin: float = 0.002  # the test-accuracy difference that does not matter (`tied`, `equivalent`)
    max_runs: int | None = None  # a budget of runs in all; null: none
    against: str | None = None  # a baseline sweep folder: race each setting against the same setting there


ConfigStore.instance().store(group="hydra/sweeper", name="race", node=RaceSweeperConf, provider="rnn_sweep")
