"""`seeds=N` on the command line: repeat every combination of a sweep over N seeds.

It is Hydra's own `seed=range(S,S+N)` sweep (S is the `seed=` given with it, else 0), spelled short. It is a
command-line word, not a config key: each job still gets one `seed`, so resume, config_hash and the tables work
on (setting, seed) pairs as for any other sweep. A named grid (conf/sweep) writes `seed: range(3)` instead.
"""

from __future__ import annotations

import re

from rnn_sweep.errors import ConfigError

_SEEDS = re.compile(r"^\+{0,2}seeds=(.*)$")
_SEED = re.compile(r"^\+{0,2}seed=(.*)$")
_MULTIRUN_FLAGS = ("-m", "--multirun")


def expand_seeds(argv: list[str]) -> list[str]:
    """`argv` with `seeds=N` (and a plain `seed=S` beside it) replaced by `seed=range(S,S+N)`."""
    given = [arg for arg in argv if _SEEDS.match(arg)]
    if not given:
        return argv
    if len(given) > 1:
        raise ConfigError(f"seeds is given {len(given)} times ({', '.join(given)}); give it once, e.g. seeds=3.")
    count = _count(_SEEDS.match(given[0]).group(1))
    if not any(arg in _MULTIRUN_FLAGS for arg in argv):
        raise ConfigError(
            f"{given[0]} repeats every job over {count} seeds, which makes a sweep: add -m "
            f"(rnn-sweep -m {given[0]} ...)."
        )
    seeds = [arg for arg in argv if _SEED.match(arg)]
    start = _start(seeds, given[0])
    swept = f"seed=range({start},{start + count})"  # in the place of seeds=N: argparse wants overrides together
    return [swept if arg in given else arg for arg in argv if arg not in seeds]


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"seeds={text} is not a number of seeds: give an int >= 1, e.g. seeds=3 (seeds 0, 1, 2).")
    return int(text)


def _start(seeds: list[str], given: str) -> int:
    """The first seed: a single `seed=S` given beside `seeds=N`, else 0."""
    if not seeds:
        return 0
    value = _SEED.match(seeds[-1]).group(1)
    if len(seeds) > 1 or not value.isdigit():
        raise ConfigError(
            f"{given} with {' '.join(seeds)}: seeds=N sweeps N seeds from one starting seed, so give one plain "
            f"seed=S with it (seeds S to S+N-1), or list the seeds yourself (seed=0,1,2) without seeds=N."
        )
    return int(value)
