"""The race's sequential tests, checked by simulation (no training) and against independent computations.

The simulated races call the same `race` function the sweeper replays, on normal seed results (seed SD 1), so the
figures below are the method's own; docs/statistics.md quotes them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.weightstats import ttost_ind

from rnn_sweep.stats.sequential import (
    BETTER,
    EQUIVALENT,
    LEADER,
    MAX_SEEDS,
    TIED,
    UNDECIDED,
    WORSE,
    Design,
    equivalence_p,
    race,
    race_against,
    runs_used,
    sequential_p,
)
from rnn_sweep.sweep.race import race_frame, race_grid

ALPHA = 0.05
RACES = 2000
DESIGN = Design(min_seeds=3, max_seeds=10, alpha=ALPHA, margin=0.0)


def simulate(gap: float, settings: int, seed: int) -> tuple[float, float, np.ndarray]:
    """Share of races that drop any setting, mean share of the fixed max_seeds design's runs, and the data."""
    data = np.random.default_rng(seed).standard_normal((RACES, settings, DESIGN.max_seeds))
    data[:, 0] += gap
    dropped = runs = 0
    for sample in data:
        result = race(sample, DESIGN)
        dropped += any(row.state == WORSE for row in result.final().values())
        runs += runs_used(result)
    return dropped / RACES, runs / (RACES * settings * DESIGN.max_seeds), data


def pocock_runs(data: np.ndarray, level: float) -> tuple[float, float]:
    """The issue's yardstick, computed independently and vectorised: a constant boundary on |pooled t| over the
    looks n = 3..10, calibrated to `level` by 200,000 null races; power and mean share of the fixed design's runs."""
    looks = range(DESIGN.min_seeds, DESIGN.max_seeds + 1)

    def t_paths(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.stack([stats.ttest_ind(a[:, :n], b[:, :n], axis=1).statistic for n in looks], axis=1)

    null = np.random.default_rng(7).standard_normal((2, 200_000, DESIGN.max_seeds))
    bound = np.quantile(np.abs(t_paths(null[0], null[1])).max(axis=1), 1 - level)
    crossed = np.abs(t_paths(data[:, 0], data[:, 1])) >= bound
    stop = np.where(crossed.any(axis=1), crossed.argmax(axis=1), len(looks) - 1)
    return crossed.any(axis=1).mean(), (np.array(list(looks))[stop] / DESIGN.max_seeds).mean()


@pytest.mark.slow  # 2,000 simulated races: no training, but 5-15 s
def test_nothing_is_dropped_more_often_than_alpha_when_all_settings_are_equal() -> None:
    """Four equal settings (a 2x2 grid), 2,000 races, a test after every round: fewer than alpha drop anything."""
    rate, runs, _ = simulate(gap=0.0, settings=4, seed=1)
    assert rate < ALPHA, rate
    assert runs > 0.9  # nothing to find: nearly every race runs to max_seeds


@pytest.mark.slow  # 2,000 simulated races: no training, but 5-15 s
def test_two_equal_settings_keep_the_error_rate_below_alpha() -> None:
    """Two equal settings, where Holm has nothing to correct: fewer than alpha of 2,000 races drop one, and the rate
    is the level the race spends (0.8 alpha) up to the simulation's own noise (binomial test at 1%), far from a
    naive test's after every seed."""
    rate, _, data = simulate(gap=0.0, settings=2, seed=2)
    assert rate < ALPHA, rate
    assert stats.binomtest(round(rate * RACES), RACES, DESIGN.level).pvalue > 0.01, rate
    naive = np.stack([stats.ttest_ind(data[:, 0, :n], data[:, 1, :n], axis=1).pvalue for n in range(3, 11)], axis=1)
    assert (naive <= ALPHA).any(axis=1).mean() > 2 * ALPHA  # why a plain t-test after every round is wrong


@pytest.mark.slow  # 2,000 simulated races: no training, but 5-15 s
def test_a_race_against_an_equal_baseline_says_better_or_worse_less_often_than_alpha() -> None:
    """Three settings, each raced against its own 5 baseline seeds from the same distribution: fewer than alpha of
    2,000 races call any of them `better` or `worse`."""
    rng = np.random.default_rng(8)
    wrong = sum(any(row.state in (BETTER, WORSE) for row in race_against(now, baseline, DESIGN).final().values())
                for now, baseline in zip(rng.standard_normal((RACES, 3, DESIGN.max_seeds)),
                                         rng.standard_normal((RACES, 3, 5)), strict=True))
    assert wrong / RACES < ALPHA, wrong / RACES


@pytest.mark.slow  # 2,000 simulated races: no training, but 5-15 s
@pytest.mark.parametrize(("gap", "most_runs"), [(2.0, 0.6), (3.0, 0.45)])
def test_a_real_gap_is_found_in_fewer_runs_than_the_fixed_design(gap: float, most_runs: float) -> None:
    """Two settings `gap` seed SDs apart (min_seeds 3, max_seeds 10): found in >= 90% of races, with at most
    `most_runs` of the fixed design's runs on average, and no more than the Pocock boundary calibrated to the same
    error rate needs."""
    found, runs, data = simulate(gap=gap, settings=2, seed=int(gap * 10))
    pocock_found, pocock = pocock_runs(data, DESIGN.level)
    assert found >= 0.9, found
    assert runs <= most_runs, runs
    assert runs <= pocock + 0.01, (runs, pocock)
    assert found >= pocock_found - 0.01, (found, pocock_found)


def test_a_single_look_gives_the_plain_t_test() -> None:
    """With one look (min_seeds = max_seeds) the repeated p-value is scipy's pooled t-test p, up to the 100,000
    simulated null races of the calibration."""
    rng = np.random.default_rng(3)
    for _ in range(5):
        a, b = rng.normal(0.5, 1, 6), rng.standard_normal(6)
        p = stats.ttest_ind(a, b).pvalue
        assert sequential_p(p, ((6, 6),), 6, 2) == pytest.approx(p, abs=0.004)


def test_race_csv_gives_the_repeated_interval_of_the_races_boundary() -> None:
    """race.csv's interval of a setting at its first and last round (3 and 10 seeds), computed independently: the
    boundary constant c from 100,000 simulated paths of one setting's seeds (scipy's one-sample t-test, another seed)
    at the race's level, then the means the one-sample t-test of the seeds so far does not reject at nominal level
    c x 3/n, the ends found by root finding. Up to the two simulations' noise (1% of the width)."""
    paths = np.random.default_rng(9).standard_normal((100_000, DESIGN.max_seeds))
    weighted = np.stack([stats.ttest_1samp(paths[:, :n], 0, axis=1).pvalue * n / DESIGN.min_seeds
                         for n in range(DESIGN.min_seeds, DESIGN.max_seeds + 1)], axis=1)
    bound = np.quantile(weighted.min(axis=1), DESIGN.level)
    seeds = np.array([0.912, 0.925, 0.915, 0.931, 0.920, 0.918, 0.927, 0.913, 0.922, 0.929])
    result = race([seeds, seeds], DESIGN)  # two equal settings: undecided to max_seeds, a row every round
    frame = race_frame(result, race_grid(["model.units=8,16"]))
    for n in (DESIGN.min_seeds, DESIGN.max_seeds):
        so_far = seeds[:n]

        def beyond(mean: float, so_far: np.ndarray = so_far, n: int = n) -> float:
            return stats.ttest_1samp(so_far, mean).pvalue - bound * DESIGN.min_seeds / n

        low = optimize.brentq(beyond, so_far.mean() - 1, so_far.mean())
        high = optimize.brentq(beyond, so_far.mean(), so_far.mean() + 1)
        row = frame[(frame["n"] == n) & (frame["units"] == "8")].iloc[0]
        assert row["mean"] == pytest.approx(so_far.mean())
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=0.01 * (high - low)), (n, low, high)
        plain = stats.t.interval(0.95, n - 1, loc=so_far.mean(), scale=stats.sem(so_far))
        assert row["ci_high"] - row["ci_low"] > 1.5 * (plain[1] - plain[0])  # not the plain 95% t-interval


def test_a_settings_intervals_cover_its_mean_at_every_round_together() -> None:
    """20,000 simulated settings of 10 seeds (mean 0): the race's intervals at all 8 rounds (each round's confidence
    from the race's rows, a t-interval at it) hold the mean together in 1 - level of them, up to the simulation's
    noise; plain 95% t-intervals at every round do far less often."""
    looks = np.arange(DESIGN.min_seeds, DESIGN.max_seeds + 1)
    seeds = np.linspace(-1, 1, DESIGN.max_seeds)
    confidence = np.array([row.confidence for row in race([seeds, seeds], DESIGN).rows if row.setting == 0])
    data = np.random.default_rng(11).standard_normal((20_000, DESIGN.max_seeds))
    t = np.abs(np.stack([stats.ttest_1samp(data[:, :n], 0, axis=1).statistic for n in looks], axis=1))
    covered = (t <= stats.t.ppf((1 + confidence) / 2, looks - 1)).all(axis=1)
    assert stats.binomtest(covered.sum(), len(data), 1 - DESIGN.level).pvalue > 0.01, covered.mean()
    assert (t <= stats.t.ppf(0.975, looks - 1)).all(axis=1).mean() < 0.9


def test_equivalence_p_matches_statsmodels_tost() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.9, 0.01, 7), rng.normal(0.901, 0.01, 7)
    expected, _, _ = ttost_ind(a, b, -0.02, 0.02, usevar="pooled")
    assert equivalence_p(a, b, 0.02) == pytest.approx(expected)


def test_a_clearly_worse_setting_is_dropped_after_round_one_and_the_rest_race_on() -> None:
    accuracies = [[0.97, 0.971, 0.969, 0.972], [0.30, 0.31, 0.29], [0.965, 0.975, 0.968]]
    result = race(accuracies, Design(margin=0.0))
    first = {row.setting: row.state for row in result.rows if row.round == 1}
    assert first == {0: LEADER, 1: WORSE, 2: UNDECIDED}
    assert result.wanted == {0: 4, 2: 4}  # the dropped setting gets no fourth seed; setting 2 has none yet
    assert not result.stop


def test_settings_within_margin_are_tied_and_the_race_stops() -> None:
    rng = np.random.default_rng(5)
    accuracies = 0.95 + rng.normal(0, 0.0005, (2, 10))
    result = race(accuracies, Design(margin=0.01))
    assert sorted(row.state for row in result.final().values()) == [LEADER, TIED]
    assert result.stop and result.rounds < 8


def test_a_failed_seed_counts_as_a_run_but_not_as_a_result() -> None:
    result = race([[0.9, math.nan, 0.91, 0.9], [0.9, 0.905, 0.91, 0.9]], Design(max_seeds=3, margin=0.0))
    row = result.final()[0]
    assert (row.seeds, row.interval.n) == (3, 2)
    assert result.stop == MAX_SEEDS and runs_used(result) == 6


def test_a_race_against_a_baseline_says_better_worse_or_equivalent() -> None:
    rng = np.random.default_rng(6)
    baseline = 0.9 + rng.normal(0, 0.001, (3, 5))
    now = 0.9 + rng.normal(0, 0.001, (3, 10)) + np.array([[0.02], [-0.02], [0.0]])
    result = race_against(now, baseline, Design(margin=0.005))
    assert [result.final()[i].state for i in range(3)] == [BETTER, WORSE, EQUIVALENT]
    assert runs_used(result) == 9  # all three decided on their first 3 seeds
