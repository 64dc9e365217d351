"""The statistics of summary.csv and compare against published examples and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rnn_sweep.config.seeds import expand_seeds
from rnn_sweep.errors import ConfigError
from rnn_sweep.results.statistics import (
    accuracy_interval,
    holm,
    mcnemar,
    mean_interval,
    median_ratio,
    time_verdict,
    verdict,
    welch,
)

# R's `sleep` data (Cushny & Peebles): extra hours of sleep under two drugs, ten patients each.
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_welch_matches_r_on_the_sleep_data():
    # R: t.test(extra ~ group, data = sleep) -> t = -1.8608, df = 17.776, p-value = 0.07939,
    # 95 percent confidence interval: -3.3654832 0.2054832 (group 1 minus group 2; ours is B minus A).
    result = welch(SLEEP_1, SLEEP_2)
    assert result.test == "welch"
    assert result.delta == pytest.approx(2.33 - 0.75)
    assert result.p_value == pytest.approx(0.07939, abs=5e-6)
    assert (result.low, result.high) == pytest.approx((-0.2054832, 3.3654832), abs=1e-7)


def test_welch_matches_the_textbook_formula():
    a, b = [0.81, 0.84, 0.79, 0.83], [0.86, 0.85, 0.90]
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    t = (np.mean(b) - np.mean(a)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))  # Welch–Satterthwaite
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    result = welch(a, b)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(t), df))
    assert (result.low, result.high) == pytest.approx((result.delta - half, result.delta + half))


def _correctness(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    right_a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    right_b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return np.array(right_a), np.array(right_b)


def test_exact_mcnemar_matches_the_published_example():
    # Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91, airway hyper-responsiveness before and after
    # stem cell transplantation (21 children, b = 1, c = 7): exact conditional McNemar p = 0.070
    # (R: binom.test(1, 8) gives p-value = 0.07031).
    result = mcnemar(*_correctness(both=8, only_a=1, only_b=7, neither=5))
    assert (result.test, result.b, result.c) == ("mcnemar", 1, 7)
    assert result.p_value == pytest.approx(0.0703125, abs=1e-12)
    assert round(result.p_value, 3) == 0.070
    assert result.delta == pytest.approx(6 / 21)
    assert result.low < result.delta < result.high


def test_exact_mcnemar_matches_the_binomial_sum():
    for b, c in ((3, 12), (20, 9), (0, 5), (6, 6)):
        tail = sum(math.comb(b + c, k) for k in range(min(b, c) + 1)) / 2 ** (b + c)
        assert mcnemar(*_correctness(100, b, c, 40)).p_value == pytest.approx(min(1.0, 2 * tail))
    same = mcnemar(*_correctness(50, 0, 0, 10))
    assert (same.p_value, same.delta, same.low, same.high) == (1.0, 0.0, 0.0, 0.0)


def test_holm_matches_the_published_example():
    # Wikipedia, Holm–Bonferroni method: p = 0.01, 0.04, 0.03, 0.005 at alpha 0.05 rejects H1 and H4.
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") -> 0.03 0.06 0.06 0.02.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    verdicts = [verdict(-1.0, p, 0.05) for p in holm([0.01, 0.04, 0.03, 0.005])]
    assert verdicts == ["worse", "inconclusive", "inconclusive", "worse"]
    adjusted = holm([0.2, math.nan, 0.01])
    assert adjusted[0] == pytest.approx(0.2) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)
    assert verdict(0.1, math.nan, 0.05) == "" and verdict(0.1, 0.01, 0.05) == "better"


def test_mean_interval_matches_the_t_table():
    # t(0.975, 2) = 4.303 (any t table): mean 0.82, sd 0.02, n 3.
    interval = mean_interval([0.80, 0.82, 0.84])
    assert (interval.n, interval.mean, interval.sd) == (3, pytest.approx(0.82), pytest.approx(0.02))
    assert interval.half_width == pytest.approx(4.303 * 0.02 / math.sqrt(3), rel=1e-3)
    one = mean_interval([0.9])
    assert one.n == 1 and one.mean == 0.9 and math.isnan(one.low) and math.isnan(one.sd)
    assert mean_interval([0.5, 0.5]).low == mean_interval([0.5, 0.5]).high == 0.5


def test_swapping_a_and_b_inverts_the_time_ratio_and_its_interval():
    fast = [1.0, 1.1, 1.2, 0.9, 1.05, 1.15]
    slow = [2.0, 2.1, 1.9, 2.2, 2.05]
    forward, backward = median_ratio(fast, slow), median_ratio(slow, fast)
    assert forward.ratio == pytest.approx(2.05 / 1.075) and backward.ratio == pytest.approx(1 / forward.ratio)
    assert (backward.low, backward.high) == pytest.approx((1 / forward.high, 1 / forward.low), rel=1e-12)
    assert forward.low < forward.ratio < forward.high
    assert (time_verdict(forward), time_verdict(backward)) == ("slower", "faster")
    assert median_ratio(fast, slow) == forward  # seeded: the same inputs give the same interval
    assert time_verdict(median_ratio(fast, fast[::-1])) == "inconclusive"
    assert time_verdict(median_ratio([1.0], slow)) == ""  # one value on a side: no interval


def test_swapping_a_and_b_flips_the_accuracy_verdict():
    a, b = [0.80, 0.81, 0.82], [0.70, 0.72, 0.71]
    forward, backward = welch(a, b), welch(b, a)
    assert forward.delta == pytest.approx(-backward.delta) and forward.p_value == pytest.approx(backward.p_value)
    assert (forward.low, forward.high) == pytest.approx((-backward.high, -backward.low))
    assert verdict(forward.delta, forward.p_value, 0.05) == "worse"
    assert verdict(backward.delta, backward.p_value, 0.05) == "better"
    right_a, right_b = _correctness(50, 2, 15, 10)
    assert mcnemar(right_a, right_b).delta == pytest.approx(-mcnemar(right_b, right_a).delta)
    assert mcnemar(right_a, right_b).p_value == pytest.approx(mcnemar(right_b, right_a).p_value)


def test_seeds_expand_to_a_seed_range_sweep():
    assert expand_seeds(["-m", "model=gru", "seeds=3"]) == ["-m", "model=gru", "seed=range(0,3)"]
    assert expand_seeds(["-m", "seed=10", "+seeds=2", "--cfg", "job"]) == ["-m", "seed=range(10,12)", "--cfg", "job"]
    assert expand_seeds(["model=gru"]) == ["model=gru"]
    for argv, named in ((["seeds=3"], "add -m"), (["-m", "seeds=0"], "seeds=0"), (["-m", "seeds=two"], "seeds=two"),
                        (["-m", "seeds=3", "seed=1,2"], "seed=1,2"), (["-m", "seeds=3", "seeds=4"], "once")):
        with pytest.raises(ConfigError, match=named):
            expand_seeds(argv)


def test_accuracy_interval_is_the_back_transformed_logit_t_interval():
    seeds = [0.10, 0.60, 0.65]  # a plain t-interval of these is [-0.31, 1.21]
    logits = [math.log(p / (1 - p)) for p in seeds]
    centre, sd = sum(logits) / 3, float(np.std(logits, ddof=1))
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
    expected = [1 / (1 + math.exp(-(centre + side * half))) for side in (-1, 1)]
    interval = accuracy_interval(seeds)
    assert (interval.low, interval.high) == pytest.approx(expected, rel=1e-12)
    assert (interval.n, interval.mean, interval.sd) == pytest.approx((3, 0.45, float(np.std(seeds, ddof=1))))
    assert 0 < interval.low < mean_interval(seeds).high and interval.high < 1


def test_accuracy_interval_is_close_to_the_t_interval_for_a_small_spread_mid_range():
    seeds = [0.51, 0.52, 0.53]
    plain, bounded = mean_interval(seeds), accuracy_interval(seeds)
    assert (bounded.low, bounded.high) == pytest.approx((plain.low, plain.high), abs=2e-4)


def test_accuracy_interval_of_one_or_equal_seeds_is_the_plain_one():
    assert math.isnan(accuracy_interval([0.9]).low)
    assert (accuracy_interval([1.0, 1.0]).low, accuracy_interval([1.0, 1.0]).high) == (1.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1), min_size=2, max_size=10))
def test_accuracy_intervals_never_leave_0_1(seeds):
    interval = accuracy_interval(seeds)
    assert 0 <= interval.low <= interval.high <= 1
