"""The statistics of summary.csv and compare against published examples and independent computations."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as statsmodels_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from rnn_sweep.compare.pairing import load_results
from rnn_sweep.compare.verdicts import compare
from rnn_sweep.config.seeds import expand_seeds
from rnn_sweep.errors import ConfigError
from rnn_sweep.stats.intervals import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    MeanInterval,
    Ratio,
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


def test_mean_interval_matches_r_on_the_sleep_data():
    # R: t.test(sleep$extra[1:10]) -> mean 0.75, 95 percent confidence interval: -0.5297804 2.0297804;
    # t.test(sleep$extra[11:20]) -> mean 2.33, 0.8976775 3.7623225. At 90%: 0.75 +- t(0.95, 9) * sd / sqrt(10) with
    # t(0.95, 9) = 1.8331 (t table) and sd = 1.78901 gives -0.28706 to 1.78706.
    for values, mean, low, high in ((SLEEP_1, 0.75, -0.5297804, 2.0297804), (SLEEP_2, 2.33, 0.8976775, 3.7623225)):
        interval = mean_interval(values)
        assert (interval.n, interval.mean, interval.low, interval.high) == (10, pytest.approx(mean),
                                                                           pytest.approx(low, abs=1e-7),
                                                                           pytest.approx(high, abs=1e-7))
        assert interval.sd == pytest.approx(float(np.std(values, ddof=1)))
    narrower = mean_interval(SLEEP_1, confidence=0.9)
    assert (narrower.low, narrower.high) == pytest.approx((-0.28706, 1.78706), abs=1e-5)
    assert mean_interval([*SLEEP_1, math.nan]) == mean_interval(SLEEP_1)  # a run without a number is left out


def test_mean_interval_of_too_few_or_equal_values():
    for values in ([], [math.nan]):
        empty = mean_interval(values)
        assert empty.n == 0
        assert all(math.isnan(x) for x in (empty.mean, empty.sd, empty.low, empty.high))
    one = mean_interval([0.9])
    assert all(math.isnan(x) for x in (one.sd, one.low, one.high))
    same = mean_interval([0.5, 0.5, 0.5])
    assert (same.n, same.mean, same.sd, same.low, same.high) == (3, 0.5, 0.0, 0.5, 0.5)


def test_welch_interval_follows_the_confidence_asked_for():
    # The Welch–Satterthwaite interval written out (as in test_welch_matches_the_textbook_formula), at 90%.
    va, vb = np.var(SLEEP_1, ddof=1) / 10, np.var(SLEEP_2, ddof=1) / 10
    df = (va + vb) ** 2 / (va**2 / 9 + vb**2 / 9)
    assert df == pytest.approx(17.776, abs=5e-4)  # R's df for the sleep data
    half = stats.t.ppf(0.95, df) * math.sqrt(va + vb)
    result = welch(SLEEP_1, SLEEP_2, confidence=0.9)
    assert (result.low, result.high) == pytest.approx((1.58 - half, 1.58 + half))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # compare prints no warning for seeds that all gave the same accuracy
        constant = welch([0.5, 0.5], [0.5, 0.5])
    assert constant.delta == 0.0 and math.isnan(constant.p_value)


def test_mcnemar_interval_is_clopper_pearson_of_the_discordant_share():
    # The docstring's claim: the exact (Clopper–Pearson) interval of c / (b + c), scaled to (c - b) / N.
    # statsmodels computes Clopper–Pearson as method="beta"; for 7 of 8 it gives 0.4735 to 0.9968 (any table of
    # exact binomial intervals). Its exact McNemar test gives the p-value.
    for both, b, c, neither, confidence in ((8, 1, 7, 5, 0.95), (100, 3, 12, 40, 0.95), (60, 20, 9, 11, 0.9),
                                            (10, 3, 3, 4, 0.95)):
        images = both + b + c + neither
        result = mcnemar(*_correctness(both, b, c, neither), confidence=confidence)
        share_low, share_high = proportion_confint(c, b + c, alpha=1 - confidence, method="beta")
        scale = (b + c) / images
        assert (result.b, result.c, result.delta) == (b, c, pytest.approx((c - b) / images))
        assert (result.low, result.high) == pytest.approx((scale * (2 * share_low - 1), scale * (2 * share_high - 1)))
        table = [[both, b], [c, neither]]
        assert result.p_value == pytest.approx(statsmodels_mcnemar(table, exact=True).pvalue)
    low, high = proportion_confint(7, 8, method="beta")
    assert (low, high) == pytest.approx((0.4735, 0.9968), abs=5e-5)


def test_mcnemar_of_identical_runs_and_of_0_1_lists():
    same = mcnemar(*_correctness(50, 0, 0, 10))
    assert (same.test, same.b, same.c) == ("mcnemar", 0, 0)
    right_a, right_b = _correctness(8, 1, 7, 5)
    as_numbers = mcnemar(right_a.astype(int).tolist(), right_b.astype(int).tolist())
    assert as_numbers == mcnemar(right_a, right_b)  # 1/0 for right/wrong counts as True/False does


def _percentile_bootstrap(first: list[float], second: list[float], confidence: float) -> tuple[float, float]:
    """exp of the percentile interval of log(median(second) / median(first)), written out with NumPy: scipy's
    resampling scheme (per sample, one (resamples, n) draw of indices, in order) on the same generator."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    first, second = np.asarray(first), np.asarray(second)
    i = rng.integers(0, len(first), (BOOTSTRAP_RESAMPLES, len(first)))
    j = rng.integers(0, len(second), (BOOTSTRAP_RESAMPLES, len(second)))
    logs = np.log(np.median(second[j], axis=1)) - np.log(np.median(first[i], axis=1))
    tail = (1 - confidence) / 2
    low, high = np.quantile(logs, [tail, 1 - tail])
    return math.exp(low), math.exp(high)


def test_median_ratio_is_the_percentile_bootstrap_written_out():
    rng = np.random.default_rng(7)
    a, b = sorted(rng.lognormal(0.0, 0.1, 9)), sorted(rng.lognormal(0.2, 0.1, 7))  # a sorts first: not swapped
    assert sorted(b) > sorted(a)
    for confidence in (0.95, 0.9, 1 - 0.05 / 3):
        result = median_ratio(a, b, confidence)
        assert result.ratio == pytest.approx(np.median(b) / np.median(a))
        assert (result.low, result.high) == pytest.approx(_percentile_bootstrap(a, b, confidence), rel=1e-12)
    # scipy.stats.bootstrap itself, on the ratio (not its log), same generator and percentile method.
    direct = stats.bootstrap((a, b), lambda x, y, axis: np.median(y, axis=axis) / np.median(x, axis=axis),
                             method="percentile", n_resamples=BOOTSTRAP_RESAMPLES,
                             rng=np.random.default_rng(BOOTSTRAP_SEED))
    result = median_ratio(a, b)
    assert (result.low, result.high) == pytest.approx(tuple(direct.confidence_interval), rel=1e-3)
    # Swapped sides resample in the same order, so the interval is the exact inverse of the one above.
    backward = median_ratio(b, a)
    assert (backward.low, backward.high) == pytest.approx((1 / result.high, 1 / result.low), rel=1e-12)


def test_median_ratio_needs_two_values_a_side():
    two = median_ratio([1.0, 1.2], [2.0, 2.2])
    assert (two.low, two.high) == pytest.approx(_percentile_bootstrap([1.0, 1.2], [2.0, 2.2], 0.95))
    for a, b in (([1.0], [2.0, 2.2]), ([1.0, 1.2], [2.0])):
        one = median_ratio(a, b)
        assert one.ratio == pytest.approx(np.median(b) / np.median(a))
        assert math.isnan(one.low) and math.isnan(one.high)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" printed by compare for a side with no epochs
        none = median_ratio([], [2.0, 2.2])
    assert math.isnan(none.ratio) and math.isnan(none.low)


def test_verdicts_at_their_boundaries():
    assert verdict(0.01, 0.05, 0.05) == "better"  # reject where adjusted p <= alpha
    assert verdict(-0.01, 0.0500001, 0.05) == "inconclusive"
    assert time_verdict(Ratio(0.9, 0.8, 1.0)) == "inconclusive"  # an interval that reaches 1 leaves nothing out
    assert time_verdict(Ratio(1.1, 1.0, 1.2)) == "inconclusive"
    assert time_verdict(Ratio(0.9, 0.8, 0.99)) == "faster" and time_verdict(Ratio(1.1, 1.01, 1.2)) == "slower"
    assert holm([0.6, 0.7]) == [1.0, 1.0]  # adjusted p-values are capped at 1


# Three settings, three seeds a side. Accuracy: a clear gain, a gain with p = 0.032 that Holm's correction over
# three rows makes inconclusive, and no change. Steady epochs: slower by a margin that the 95% interval finds but
# the Bonferroni level 1 - 0.05/3 does not, twice as slow, twice as fast.
ACCURACIES_A = {8: [0.80, 0.81, 0.82], 16: [0.80, 0.81, 0.82], 32: [0.80, 0.81, 0.82]}
ACCURACIES_B = {8: [0.90, 0.91, 0.92], 16: [0.83, 0.835, 0.84], 32: [0.79, 0.82, 0.83]}
STEADY = [1.0, 1.02, 0.98, 1.01, 0.99, 1.03]
STEADY_A = {8: STEADY, 16: STEADY, 32: STEADY}
STEADY_B = {8: [x * 1.0325 for x in (1.0, 1.04, 0.97, 1.02, 0.99, 1.05)], 16: [2 * x for x in STEADY],
            32: [x / 2 for x in STEADY]}


def _sweep_table(folder: Path, accuracies: dict[int, list[float]], steady: dict[int, list[float]]) -> Path:
    """A results.csv as rnn-sweep writes it: one row per run, each of 3 epochs (the first, then 2 steady ones)."""
    rows = []
    for units, values in accuracies.items():
        for seed, accuracy in enumerate(values):
            epochs = [1.5, *steady[units][2 * seed:2 * seed + 2]]
            rows.append({"run_dir": str(folder / f"{len(rows)}"), "status": "ok", "cell": "gru", "units": units,
                         "batch_size": 64, "optimizer": "adam", "learning_rate": 0.001, "epochs": 3, "data": "mnist",
                         "seed": seed, "test_accuracy": accuracy, "epoch_seconds_all": json.dumps(epochs)})
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return folder


def test_compare_corrects_every_row_for_the_others(tmp_path):
    a = load_results(_sweep_table(tmp_path / "a", ACCURACIES_A, STEADY_A))
    b = load_results(_sweep_table(tmp_path / "b", ACCURACIES_B, STEADY_B))
    table = compare(a, b).table.set_index("units")
    raw = [stats.ttest_ind(ACCURACIES_B[u], ACCURACIES_A[u], equal_var=False).pvalue for u in (8, 16, 32)]
    assert table.loc[["8", "16", "32"], "p_value"].tolist() == pytest.approx(raw)
    assert table.loc[["8", "16", "32"], "p_holm"].tolist() == pytest.approx(multipletests(raw, method="holm")[1])
    assert raw[1] < 0.05  # alone it would be `better`; among three rows it is not
    assert table.loc[["8", "16", "32"], "verdict"].tolist() == ["better", "inconclusive", "inconclusive"]
    # Time: the 95% interval of each row, and the verdict from the interval at 1 - 0.05/3.
    level = 1 - 0.05 / 3
    for units in (8, 16, 32):
        assert (table.loc[str(units), "time_ratio_ci_low"], table.loc[str(units), "time_ratio_ci_high"]) == \
            pytest.approx(_percentile_bootstrap(STEADY_A[units], STEADY_B[units], 0.95), rel=1e-12)
    assert table.loc["8", "time_ratio_ci_low"] > 1 > _percentile_bootstrap(STEADY_A[8], STEADY_B[8], level)[0]
    assert table.loc[["8", "16", "32"], "time_verdict"].tolist() == ["inconclusive", "slower", "faster"]
    # The same borderline rows compared alone: no correction, so both become `better` and `slower`.
    alone = compare(*(load_results(_sweep_table(tmp_path / f"{side}1", {8: acc[16]}, {8: steady[8]}))
                      for side, acc, steady in (("a", ACCURACIES_A, STEADY_A), ("b", ACCURACIES_B, STEADY_B)))).table
    assert alone[["verdict", "time_verdict"]].values.tolist() == [["better", "slower"]]


def test_any_sequence_of_numbers_will_do():
    # Truth values as 1.0/0.0, numbers held as Python objects (what pandas gives for a column of mixed types):
    # the same answers as the plain bool and float arrays.
    right_a, right_b = _correctness(8, 1, 7, 5)
    assert mcnemar(right_a.astype(float), right_b.astype(float)) == mcnemar(right_a, right_b)
    as_objects = [np.asarray(values, dtype=object) for values in (SLEEP_1, SLEEP_2)]
    assert welch(*as_objects) == welch(SLEEP_1, SLEEP_2)
    assert mean_interval(as_objects[0]) == mean_interval(SLEEP_1)
    times = [np.asarray(values, dtype=object) for values in (STEADY, STEADY_B[16])]
    assert median_ratio(*times) == median_ratio(STEADY, STEADY_B[16])


def test_seeds_errors_name_what_was_given():
    assert expand_seeds(["-m", "seeds=1"]) == ["-m", "seed=range(0,1)"]  # one seed is a number of seeds too
    with pytest.raises(ConfigError) as error:
        expand_seeds(["-m", "seeds=3", "seed=1", "seed=2"])
    assert str(error.value).startswith("seeds=3 with seed=1 seed=2: seeds=N sweeps N seeds from one starting seed")
    with pytest.raises(ConfigError) as error:
        expand_seeds(["-m", "seeds=3", "+seeds=4"])
    assert str(error.value) == "seeds is given 2 times (seeds=3, +seeds=4); give it once, e.g. seeds=3."


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
    with warnings.catch_warnings():  # and says so without numpy's warnings of an empty or one-value spread
        warnings.simplefilter("error")
        assert math.isnan(accuracy_interval([0.9]).low)
        assert (accuracy_interval([1.0, 1.0]).low, accuracy_interval([1.0, 1.0]).high) == (1.0, 1.0)


def test_seeds_all_within_half_an_image_of_100_percent_give_their_range():
    """Their logits, clipped at ACCURACY_EDGE, are one number: the interval is the seeds' own range."""
    seeds = [1.0, 0.99995, 1.0]
    assert accuracy_interval(seeds) == MeanInterval(3, np.mean(seeds), np.std(seeds, ddof=1), 0.99995, 1.0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1), min_size=2, max_size=10))
def test_accuracy_intervals_never_leave_0_1(seeds):
    interval = accuracy_interval(seeds)
    assert 0 <= interval.low <= interval.high <= 1
