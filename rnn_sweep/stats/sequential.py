"""Seeds until decided: the tests of a race, which look at the results again after every round of seeds.

Testing again after each new seed with a plain t-test inflates false positives (every look is another chance for
noise to cross p <= 0.05). Here each comparison has a *repeated p-value* (Jennison & Turnbull 2000, ch. 9): the
nominal p-value of the pooled two-sample t-test at a look with n seeds per side is weighted by n / min_seeds (a
boundary whose nominal level falls as 1 / n, so early looks spend more of alpha, as Pocock's and unlike O'Brien &
Fleming's), the smallest weighted value seen so far is taken, and that is turned into a p-value by its exact null
distribution over every look the race may take (min_seeds .. max_seeds). The pooled t statistics are pivotal under
the null (their joint law over the looks depends on neither the mean nor the seed SD), so that distribution is
simulated once per design, seeded, and a repeated p-value is valid however early or late the race stops. Holm's
method across all pairs of settings keeps the chance of any false `worse` at the race's level; `tied` is two
one-sided tests (TOST, Schuirmann 1987) against +-margin, made sequential and corrected the same way. The level is
ALPHA_SPENT x alpha, not alpha: the share kept back covers what the exact calibration assumes away (normal seed
results, balanced looks), so a race's error rate stays below alpha, not at it. Each setting's interval in race.csv
is the repeated confidence interval of the same boundary (Jennison & Turnbull 2000, ch. 9), which covers the
setting's mean at every round at once. docs/statistics.md has the method, its sources and the simulation that
checks its error rate and its savings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from scipy import special, stats

from rnn_sweep.stats.intervals import MeanInterval, holm, mean_interval

CALIBRATION_DRAWS = 100_000  # null races per design: a sequential p-value near 0.05 is then exact to about 0.001
CALIBRATION_SEED = 20_260_101
# The share of alpha a race's tests are held to. Spending alpha exactly errs in alpha of races (over it in half of
# any finite simulation); the fifth kept back covers what the calibration assumes away (normal results, balanced
# looks). docs/statistics.md has the figures.
ALPHA_SPENT = 0.8

LEADER, TIED, WORSE, UNDECIDED = "leader", "tied", "worse", "undecided"
BETTER, EQUIVALENT = "better", "equivalent"
DECIDED, MAX_SEEDS, MAX_RUNS = "decided", "max_seeds", "max_runs"


@dataclass(frozen=True)
class Design:
    """A race's rules: seeds per setting from `min_seeds` to `max_seeds`, the error rate `alpha`, the accuracy
    difference `margin` that does not matter, and optionally a budget of runs in all."""

    min_seeds: int = 3
    max_seeds: int = 10
    alpha: float = 0.05
    margin: float = 0.002
    max_runs: int | None = None

    @property
    def level(self) -> float:
        """The level every test of the race is held to, and one minus its intervals' confidence."""
        return ALPHA_SPENT * self.alpha


@dataclass
class Row:
    """One setting after one round: what race.csv holds (with the setting's own columns)."""

    round: int
    setting: int
    values: np.ndarray  # the results of the seeds taken so far, NaN where a run failed
    state: str
    confidence: float  # of the repeated interval at this round (repeated_confidence)

    @property
    def seeds(self) -> int:
        """Runs taken, failed ones included (`n` counts those that ended ok)."""
        return len(self.values)

    @cached_property
    def interval(self) -> MeanInterval:
        """The mean and its repeated interval (computed when asked: a simulated race never needs it)."""
        return mean_interval(self.values.tolist(), self.confidence)


@dataclass
class Race:
    """The race replayed from the results so far: its rounds, and what it needs next.

    `wanted` maps a setting to the number of seeds it must have for the next round (empty when the race is over);
    `stop` says why it ended (`decided`, `max_seeds`, `max_runs`), empty while it runs.
    """

    rows: list[Row] = field(default_factory=list)
    wanted: dict[int, int] = field(default_factory=dict)
    stop: str = ""

    def final(self) -> dict[int, Row]:
        """Each setting's last row: its state and interval where the race stands now."""
        return {row.setting: row for row in self.rows}

    @property
    def rounds(self) -> int:
        return max((row.round for row in self.rows), default=0)


def weight(n: int, min_seeds: int) -> float:
    """The boundary's shape: a look with n seeds per side is held to a nominal level min_seeds / n times the first's."""
    return min_seeds / n


def pooled_t(a: np.ndarray, b: np.ndarray) -> tuple[float, float, int]:
    """mean(a) - mean(b), its standard error from the pooled variance, and the degrees of freedom."""
    df = len(a) + len(b) - 2
    pooled = (((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / df
    return float(a.mean() - b.mean()), math.sqrt(pooled * (1 / len(a) + 1 / len(b))), df


def difference_p(a: np.ndarray, b: np.ndarray) -> float:
    """Nominal two-sided p of the pooled t-test (1 where it cannot be computed: fewer than 2 runs, no spread)."""
    if len(a) < 2 or len(b) < 2:
        return 1.0
    delta, se, df = pooled_t(a, b)
    if se == 0:
        return 1.0 if delta == 0 else 0.0
    return float(2 * special.stdtr(df, -abs(delta) / se))


def equivalence_p(a: np.ndarray, b: np.ndarray, margin: float) -> float:
    """Nominal TOST p that |mean(a) - mean(b)| < margin: the larger of the two one-sided pooled t-tests' p."""
    if len(a) < 2 or len(b) < 2 or margin <= 0:
        return 1.0
    delta, se, df = pooled_t(a, b)
    if se == 0:
        return 0.0 if abs(delta) < margin else 1.0
    return float(max(special.stdtr(df, -(delta + margin) / se), special.stdtr(df, -(margin - delta) / se)))


@lru_cache(maxsize=64)
def null_minima(looks: tuple[tuple[int, int], ...], min_seeds: int, sided: int) -> np.ndarray:
    """The smallest weighted nominal p over `looks` ((n_a, n_b) per look), sorted, in simulated null races.

    `sided` 2: the two-sided test of no difference; 1: one one-sided test at its null's edge (a TOST half).
    Seeded, so the same design always gets the same numbers.
    """
    rng = np.random.default_rng(CALIBRATION_SEED)
    most_a = max(n_a for n_a, _ in looks)
    most_b = max(n_b for _, n_b in looks)
    a = rng.standard_normal((CALIBRATION_DRAWS, most_a))
    b = rng.standard_normal((CALIBRATION_DRAWS, most_b))
    smallest = np.full(CALIBRATION_DRAWS, np.inf)
    for n_a, n_b in looks:
        x, y = a[:, :n_a], b[:, :n_b]
        df = n_a + n_b - 2
        pooled = (((x - x.mean(1, keepdims=True)) ** 2).sum(1) + ((y - y.mean(1, keepdims=True)) ** 2).sum(1)) / df
        t = (x.mean(1) - y.mean(1)) / np.sqrt(pooled * (1 / n_a + 1 / n_b))
        p = 2 * stats.t.sf(np.abs(t), df) if sided == 2 else stats.t.sf(t, df)
        smallest = np.minimum(smallest, p / weight(n_a, min_seeds))
    return np.sort(smallest)


@lru_cache(maxsize=64)
def interval_bound(min_seeds: int, max_seeds: int, level: float) -> float:
    """The constant c of the repeated intervals: in simulated paths of one setting's seeds, the smallest weighted
    nominal p of the one-sample t-test of its true mean over the looks min_seeds .. max_seeds is below c in `level`
    of them (one-sample t statistics are pivotal too). Seeded, so the same design always gets the same c."""
    draws = np.random.default_rng(CALIBRATION_SEED).standard_normal((CALIBRATION_DRAWS, max_seeds))
    smallest = np.full(CALIBRATION_DRAWS, np.inf)
    for n in range(min_seeds, max_seeds + 1):
        x = draws[:, :n]
        t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(n))
        smallest = np.minimum(smallest, 2 * special.stdtr(n - 1, -np.abs(t)) / weight(n, min_seeds))
    return float(np.quantile(smallest, level))


def repeated_confidence(seeds: int, design: Design) -> float:
    """The confidence of a setting's repeated interval at the round it has `seeds` seeds: the t-interval at nominal
    level c x weight, so that one setting's intervals over every round cover its mean together in 1 - level of races.
    """
    bound = interval_bound(design.min_seeds, design.max_seeds, design.level)
    return 1 - bound * weight(seeds, design.min_seeds)


def sequential_p(smallest: float, looks: tuple[tuple[int, int], ...], min_seeds: int, sided: int) -> float:
    """The repeated p-value: how often null races reach a weighted p this small at any of their looks."""
    minima = null_minima(looks, min_seeds, sided)
    return float((1 + np.searchsorted(minima, smallest, side="right")) / (len(minima) + 1))


def balanced_looks(design: Design) -> tuple[tuple[int, int], ...]:
    return tuple((n, n) for n in range(design.min_seeds, design.max_seeds + 1))


def race(samples: Sequence[Sequence[float]], design: Design) -> Race:
    """Replay a race among settings from each setting's results in seed order (NaN: that seed's run failed).

    Round 1 looks at every setting's first min_seeds seeds; the leader (highest mean) and the undecided settings
    get one more seed each round; a setting shown worse than the leader is dropped, one shown within margin of it
    is tied and stops. The states of a round are against that round's leader, so each round has one leader: a leader
    overtaken is worse, tied or undecided against the new one. Replaying from the results makes a killed race
    resume where it stood.
    """
    values = [np.asarray(sample, dtype=float) for sample in samples]
    count = len(values)
    pairs = [(i, j) for i in range(count) for j in range(i + 1, count)]
    looks = balanced_looks(design)
    differ = dict.fromkeys(pairs, math.inf)
    equal = dict.fromkeys(pairs, math.inf)
    # Each setting's state and seeds as of its last round: every setting is active in round 1, which sets both.
    states: dict[int, str] = {}
    taken: dict[int, int] = {}
    active = set(range(count))
    result = Race()
    n, number = design.min_seeds, 1
    while True:
        short = {i: n for i in sorted(active) if len(values[i]) < n}
        if short:
            result.wanted = {i: n for i in sorted(active)}
            return result
        ok = {i: _finite(values[i][:n]) for i in active}
        leader = max(sorted(active), key=lambda i: ok[i].mean() if len(ok[i]) else -math.inf)
        for i, j in pairs:
            if i in active and j in active:
                differ[i, j] = min(differ[i, j], difference_p(ok[i], ok[j]) / weight(n, design.min_seeds))
                equal[i, j] = min(equal[i, j], equivalence_p(ok[i], ok[j], design.margin) / weight(n, design.min_seeds))
        shown_different = _rejected(differ, looks, design, sided=2)
        shown_equal = _rejected(equal, looks, design, sided=1)
        for i in sorted(active - {leader}):
            pair = (min(i, leader), max(i, leader))
            if pair in shown_different and ok[i].mean() < ok[leader].mean():
                states[i] = WORSE
            elif pair in shown_equal:
                states[i] = TIED
            else:  # states are against this round's leader, so one that led before and was overtaken is undecided
                states[i] = UNDECIDED
        states[leader] = LEADER
        for i in range(count):
            taken[i] = n if i in active else taken[i]
            result.rows.append(Row(number, i, values[i][: taken[i]], states[i],
                                   repeated_confidence(taken[i], design)))
        active = {i for i in active if states[i] in (LEADER, UNDECIDED)}
        result.stop = _stop(result, undecided=len(active) - 1, next_runs=len(active), n=n, design=design)
        if result.stop:
            return result
        n, number = n + 1, number + 1


def race_against(samples: Sequence[Sequence[float]], baseline: Sequence[Sequence[float]], design: Design) -> Race:
    """Replay a race of each setting against the same setting's runs in a baseline sweep (fixed, already run):
    `better`, `worse`, `equivalent` (within margin) or `undecided` (gets the next seed), Holm across settings."""
    values = [np.asarray(sample, dtype=float) for sample in samples]
    fixed = [_finite(np.asarray(sample, dtype=float)) for sample in baseline]
    count = len(values)
    differ = [math.inf] * count
    equal = [math.inf] * count
    states = [UNDECIDED] * count
    taken: dict[int, int] = {}  # seeds in each setting's last round; every setting is active in round 1
    active = set(range(count))
    result = Race()
    n, number = design.min_seeds, 1
    while True:
        if any(len(values[i]) < n for i in active):
            result.wanted = {i: n for i in sorted(active)}
            return result
        for i in active:
            ok = _finite(values[i][:n])
            differ[i] = min(differ[i], difference_p(ok, fixed[i]) / weight(n, design.min_seeds))
            equal[i] = min(equal[i], equivalence_p(ok, fixed[i], design.margin) / weight(n, design.min_seeds))
        different = holm([_against_p(differ[i], len(fixed[i]), design, 2) for i in range(count)])
        same = holm([_against_p(equal[i], len(fixed[i]), design, 1) for i in range(count)])
        for i in sorted(active):
            ok = _finite(values[i][:n])
            if different[i] <= design.level and len(ok):
                states[i] = BETTER if ok.mean() > fixed[i].mean() else WORSE
            elif same[i] <= design.level:
                states[i] = EQUIVALENT
        for i in range(count):
            taken[i] = n if i in active else taken[i]
            result.rows.append(Row(number, i, values[i][: taken[i]], states[i],
                                   repeated_confidence(taken[i], design)))
        active = {i for i in active if states[i] == UNDECIDED}
        result.stop = _stop(result, undecided=len(active), next_runs=len(active), n=n, design=design)
        if result.stop:
            return result
        n, number = n + 1, number + 1


def runs_used(result: Race) -> int:
    """Runs the race trained so far: each setting's seeds in its last round, failed runs included."""
    return sum(row.seeds for row in result.final().values())


def _stop(result: Race, undecided: int, next_runs: int, n: int, design: Design) -> str:
    """Why the race ends after this round (nothing undecided, max_seeds, or max_runs before the next round), or ''."""
    if not undecided:
        return DECIDED
    if n >= design.max_seeds:
        return MAX_SEEDS
    if design.max_runs is not None and runs_used(result) + next_runs > design.max_runs:
        return MAX_RUNS
    return ""


def _against_p(smallest: float, baseline_n: int, design: Design, sided: int) -> float:
    if not math.isfinite(smallest) or baseline_n < 2:
        return 1.0
    looks = tuple((n, baseline_n) for n in range(design.min_seeds, design.max_seeds + 1))
    return sequential_p(smallest, looks, design.min_seeds, sided)


def _rejected(minima: dict[tuple[int, int], float], looks: tuple[tuple[int, int], ...], design: Design,
              sided: int) -> set[tuple[int, int]]:
    """The pairs Holm rejects at the race's level among all pairs' repeated p-values (an untested pair counts, with
    p 1)."""
    pairs = list(minima)
    adjusted = holm([sequential_p(minima[p], looks, design.min_seeds, sided) if math.isfinite(minima[p]) else 1.0
                     for p in pairs])
    return {pair for pair, p in zip(pairs, adjusted, strict=True) if p <= design.level}


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]
