"""The race's boundaries, case by case: the nominal tests against scipy and statsmodels, the repeated p-value at its
edges and against a simulation of its own, and races whose answer turns on one rule (the weight of a later look,
Holm over each pair once, the run budget). No training. The repeated p-values quoted for the races were
computed without rnn_sweep (scipy's and statsmodels' tests at each look, 400,000 simulated null races)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import ttost_ind

from rnn_sweep.stats.sequential import (
    BETTER,
    CALIBRATION_DRAWS,
    DECIDED,
    EQUIVALENT,
    LEADER,
    MAX_RUNS,
    TIED,
    UNDECIDED,
    WORSE,
    Design,
    balanced_looks,
    difference_p,
    equivalence_p,
    null_minima,
    race,
    race_against,
    runs_used,
    sequential_p,
    weight,
)


def test_a_later_look_is_held_to_a_lower_nominal_level():
    assert weight(3, 3) == 1 and weight(6, 3) == 0.5 and weight(10, 5) == 0.5


def test_the_looks_are_every_seed_count_from_min_to_max_seeds():
    assert balanced_looks(Design(min_seeds=3, max_seeds=5)) == ((3, 3), (4, 4), (5, 5))


@pytest.mark.parametrize(("a", "b"), [([0.90, 0.92], [0.85, 0.86]), ([0.9, 0.91, 0.93], [0.91, 0.88, 0.86, 0.9, 0.87])])
def test_the_difference_p_is_the_pooled_t_test(a, b):
    assert difference_p(np.array(a), np.array(b)) == pytest.approx(stats.ttest_ind(a, b).pvalue, rel=1e-12)


def test_a_side_of_one_run_or_of_one_value_is_decided_by_the_values_alone():
    one, three = np.array([0.9]), np.array([0.8, 0.81, 0.82])
    assert difference_p(one, three) == difference_p(three, one) == 1.0  # no spread to test against
    assert difference_p(np.array([0.9, 0.9]), np.array([0.9, 0.9])) == 1.0  # the same constant: no difference
    assert difference_p(np.array([0.9, 0.9]), np.array([0.8, 0.8])) == 0.0  # two constants: certainly different


@pytest.mark.parametrize("swap", [False, True])
def test_the_equivalence_p_is_statsmodels_tost_either_way_round(swap):
    a, b = np.array([0.902, 0.899, 0.905]), np.array([0.897, 0.896])
    if swap:
        a, b = b, a
    expected, _, _ = ttost_ind(a, b, -0.01, 0.01, usevar="pooled")
    assert equivalence_p(a, b, 0.01) == pytest.approx(expected, rel=1e-12)


def test_equivalence_without_a_margin_or_a_spread_is_decided_by_the_values_alone():
    three = np.array([0.8, 0.81, 0.82])
    assert equivalence_p(three, three, 0.0) == 1.0  # no margin: nothing is within it
    assert equivalence_p(np.array([0.8]), three, 0.1) == equivalence_p(three, np.array([0.8]), 0.1) == 1.0
    same, other = np.array([0.9, 0.9]), np.array([0.85, 0.85])
    assert equivalence_p(same, same, 0.01) == 0.0  # constant and within the margin
    assert equivalence_p(same, other, 0.1) == 0.0
    assert equivalence_p(same, other, 0.01) == 1.0
    quarters = np.array([0.75, 0.75]), np.array([0.5, 0.5])
    assert equivalence_p(*quarters, 0.25) == 1.0  # exactly the margin apart is not within it


def test_the_repeated_p_counts_the_null_races_that_reach_the_weighted_p_itself():
    looks = balanced_looks(Design())
    minima = null_minima(looks, 3, 2)
    assert sequential_p(0.0, looks, 3, 2) == 1 / (CALIBRATION_DRAWS + 1)  # below every null race: the least p
    assert sequential_p(math.inf, looks, 3, 2) == 1.0
    assert sequential_p(minima[0], looks, 3, 2) == 2 / (CALIBRATION_DRAWS + 1)  # a tie counts as reached
    assert sequential_p(minima[9], looks, 3, 2) == 11 / (CALIBRATION_DRAWS + 1)


def test_the_repeated_p_matches_an_independent_simulation_of_the_looks():
    """Null races of 3..10 seeds a side simulated here with scipy's t-test (other draws than the calibration's): the
    share whose smallest weighted p is at most 0.01 is the repeated p of 0.01, two-sided and one-sided."""
    looks = balanced_looks(Design())
    draws = np.random.default_rng(11).standard_normal((2, 400_000, 10))
    smallest = {2: np.full(draws.shape[1], np.inf), 1: np.full(draws.shape[1], np.inf)}
    for n, _ in looks:
        t = stats.ttest_ind(draws[0, :, :n], draws[1, :, :n], axis=1).statistic
        for sided, p in ((2, 2 * stats.t.sf(np.abs(t), 2 * n - 2)), (1, stats.t.sf(t, 2 * n - 2))):
            smallest[sided] = np.minimum(smallest[sided], p / weight(n, 3))
    for sided in (2, 1):
        independent = float((smallest[sided] <= 0.01).mean())
        assert sequential_p(0.01, looks, 3, sided) == pytest.approx(independent, abs=0.0008)
        assert sequential_p(0.01, looks, 3, 3 - sided) != pytest.approx(independent, abs=0.0008)


# Two settings, round 1 (3 seeds): pooled t p = 0.0077, repeated p 0.019. Holm over the one pair drops B;
# counted once more per ordered or self pair, Holm would need 4 x 0.019 <= alpha and keep it.
CLEAR = [[0.913, 0.913, 0.919], [0.879, 0.892, 0.895]]


def test_a_pair_of_settings_is_one_test_so_a_clear_gap_drops_the_worse_in_round_one():
    result = race(CLEAR, Design(margin=0.0))
    assert [(row.round, row.setting, row.state) for row in result.rows] == [(1, 0, LEADER), (1, 1, WORSE)]
    assert result.stop == DECIDED and not result.wanted and runs_used(result) == 6


def test_a_repeated_p_just_above_alpha_keeps_the_race_going():
    """Pooled t p = 0.0180 at 3 seeds a side: of null races of two-sided tests over 3..10 seeds, 4.13% reach a
    weighted p that small, above the race's level of 0.8 x 0.05 = 4%, so B is not yet worse. (Of null races of
    one-sided tests, 3.78%: calibrating the two-sided test on those would drop B.)"""
    result = race([[0.90, 0.91, 0.92], [0.8684, 0.8784, 0.8884]], Design(margin=0.0))
    assert [row.state for row in result.rows] == [LEADER, UNDECIDED]
    assert result.wanted == {0: 4, 1: 4}


def test_a_setting_whose_runs_all_failed_never_leads():
    result = race([[math.nan] * 3, CLEAR[1]], Design(margin=0.0))
    assert [row.state for row in result.rows] == [UNDECIDED, LEADER]
    assert result.wanted == {0: 4, 1: 4}


def test_a_dropped_setting_keeps_the_seeds_it_had_while_the_rest_race_on():
    """Settings 1 and 2 race on after setting 0 is dropped in round 1; later results given for 0 are not its."""
    accuracies = [[0.30, 0.31, 0.29, 0.99, 0.99], [0.97, 0.971, 0.969, 0.972, 0.97], [0.965, 0.975, 0.968, 0.966, 0.97]]
    result = race(accuracies, Design(margin=0.0, max_seeds=5))
    assert [(row.round, row.setting, row.state) for row in result.rows] == [
        (1, 0, WORSE), (1, 1, LEADER), (1, 2, UNDECIDED),
        (2, 0, WORSE), (2, 1, LEADER), (2, 2, UNDECIDED),
        (3, 0, WORSE), (3, 1, LEADER), (3, 2, UNDECIDED)]
    assert [row.seeds for row in result.rows if row.setting == 0] == [3, 3, 3]
    assert [row.seeds for row in result.rows if row.setting == 2] == [3, 4, 5]
    assert result.stop == "max_seeds" and runs_used(result) == 13


def test_a_leader_overtaken_is_undecided_so_each_round_has_one_leader():
    """B overtakes A in round 2 (mean 0.91 to 0.905) and A leads again in round 3 (0.91 to 0.904), nothing shown
    worse: the one overtaken is undecided against the new leader from that round on, not a second leader."""
    a = [0.90, 0.91, 0.92, 0.89, 0.93]
    b = [0.89, 0.90, 0.91, 0.94, 0.88]
    result = race([a, b], Design(margin=0.0, max_seeds=5))
    assert [(row.round, row.setting, row.state) for row in result.rows] == [
        (1, 0, LEADER), (1, 1, UNDECIDED),
        (2, 0, UNDECIDED), (2, 1, LEADER),
        (3, 0, LEADER), (3, 1, UNDECIDED)]
    assert result.stop == "max_seeds"


def test_a_setting_level_with_the_leader_is_not_worse_whatever_an_earlier_round_showed():
    """Round 1: A leads on three wild seeds; B and C, both undecided against A, are far apart (pooled t p = 7.1e-5,
    repeated p under 0.001 even times three pairs). Round 2: A falls behind, and C's fourth seed brings its mean to
    exactly B's (0.501953125, sums of dyadic numbers), so B leads as the first of the two. C was shown different
    from B in round 1, but it is not below B now: undecided, not worse."""
    a = [0.0, 1.0, 0.96875, 0.0]
    b = [0.5, 0.5078125, 0.5, 0.5]
    c = [0.4375, 0.4453125, 0.4375, 0.6875]
    assert np.mean(b) == np.mean(c)
    result = race([a, b, c], Design())
    assert [(row.round, row.setting, row.state) for row in result.rows] == [
        (1, 0, LEADER), (1, 1, UNDECIDED), (1, 2, UNDECIDED),
        (2, 0, UNDECIDED), (2, 1, LEADER), (2, 2, UNDECIDED)]


def test_a_later_look_needs_a_smaller_nominal_p():
    """Repeated p of B worse over 3..6 seeds: 0.65, 0.57, 0.26, 0.098, so B is undecided after four rounds. Were
    later looks held to a higher nominal level instead of a lower one, it would be about 0.03 at 6 seeds: dropped."""
    a = [0.899, 0.91, 0.907, 0.902, 0.908, 0.91]
    b = [0.892, 0.906, 0.905, 0.896, 0.888, 0.885]
    result = race([a, b], Design(margin=0.0))
    assert [row.state for row in result.rows if row.setting == 1] == [UNDECIDED] * 4
    assert [row.round for row in result.rows if row.setting == 1] == [1, 2, 3, 4]
    assert result.wanted == {0: 7, 1: 7} and not result.stop


def test_a_tie_is_called_on_the_one_sided_calibration_of_its_two_tests():
    """TOST p = 0.0177 at 3 seeds a side, margin 0.0061 (statsmodels' ttost_ind): 3.77% of null races of a one-sided
    test reach that weighted p, within the race's level of 4%, so the two settings are tied in round 1 (4.13% of
    two-sided null races: calibrated on those, they would race on)."""
    result = race([[0.900, 0.902, 0.904], [0.901, 0.903, 0.899]], Design(margin=0.0061))
    assert [(row.round, row.setting, row.state) for row in result.rows] == [(1, 0, LEADER), (1, 1, TIED)]
    assert result.stop == DECIDED


def test_a_later_look_needs_a_smaller_nominal_p_to_call_two_settings_tied():
    """Repeated TOST p over 3..6 seeds (margin 0.01): 0.32, 0.18, 0.16, 0.090: not yet tied (about 0.03 at 6
    seeds were later looks held to a higher level)."""
    a = [0.903, 0.905, 0.898, 0.901, 0.902, 0.894]
    b = [0.902, 0.888, 0.897, 0.903, 0.895, 0.895]
    result = race([a, b], Design(margin=0.01))
    assert TIED not in [row.state for row in result.rows]
    assert result.wanted == {0: 7, 1: 7}


@pytest.mark.parametrize(("max_runs", "stop"), [(8, ""), (7, MAX_RUNS)])
def test_a_budget_stops_the_race_only_before_a_round_that_would_overrun_it(max_runs, stop):
    """Round 1 took 6 runs; round 2 needs 2 more: 8 in all fits a budget of 8, not one of 7."""
    result = race([[0.9, 0.91, 0.92], [0.91, 0.90, 0.92]], Design(margin=0.0, max_runs=max_runs))
    assert result.stop == stop and result.wanted == ({} if stop else {0: 4, 1: 4})


def test_a_race_against_a_baseline_asks_for_its_first_seeds_then_decides_on_them():
    baseline = [[0.90, 0.91], [0.90, 0.91]]  # two baseline runs are enough to test against
    assert race_against([[], []], baseline, Design()).wanted == {0: 3, 1: 3}
    assert race_against([[0.95, 0.951], [0.95]], baseline, Design()).wanted == {0: 3, 1: 3}
    result = race_against([[0.99, 0.991, 0.99], [0.905, 0.904, 0.906]], baseline, Design(margin=0.0))
    assert [(row.round, row.setting, row.state) for row in result.rows] == [(1, 0, BETTER), (1, 1, UNDECIDED)]
    assert result.wanted == {1: 4} and not result.stop


def test_a_decided_setting_keeps_its_seeds_while_the_others_race_on_against_the_baseline():
    baseline = [[0.90, 0.91, 0.905], [0.90, 0.91, 0.905]]
    now = [[0.99, 0.991, 0.99, 0.5, 0.5], [0.905, 0.904, 0.906, 0.905, 0.906]]
    result = race_against(now, baseline, Design(margin=0.0, max_seeds=5))
    assert [(row.round, row.setting, row.state, row.seeds) for row in result.rows] == [
        (1, 0, BETTER, 3), (1, 1, UNDECIDED, 3), (2, 0, BETTER, 3), (2, 1, UNDECIDED, 4),
        (3, 0, BETTER, 3), (3, 1, UNDECIDED, 5)]
    assert result.stop == "max_seeds" and not result.wanted


@pytest.mark.parametrize(("max_runs", "stop"), [(4, ""), (3, MAX_RUNS)])
def test_a_budget_stops_a_race_against_a_baseline_before_it_overruns(max_runs, stop):
    baseline = [[0.90, 0.91, 0.905]]
    result = race_against([[0.905, 0.904, 0.906]], baseline, Design(margin=0.0, max_runs=max_runs))
    assert result.stop == stop and result.wanted == ({} if stop else {0: 4})


def test_a_later_look_against_a_baseline_needs_a_smaller_nominal_p():
    """Repeated p of a difference from the baseline over 3..6 seeds: 0.28, 0.25, 0.16, 0.10: still undecided
    (about 0.03 at 6 seeds were later looks held to a higher level)."""
    now = [0.907, 0.902, 0.899, 0.903, 0.905, 0.906]
    baseline = [0.9, 0.902, 0.898, 0.901, 0.899]
    result = race_against([now], [baseline], Design(margin=0.004))
    assert [row.state for row in result.rows] == [UNDECIDED] * 4
    assert result.wanted == {0: 7}


def test_a_repeated_p_just_above_alpha_against_a_baseline_keeps_the_setting_racing():
    """Pooled t p = 0.0259 against 5 baseline runs: 4.31% of two-sided null races reach it, above the race's level
    of 4% (3.96% of one-sided ones, which would call it better)."""
    result = race_against([[0.9186, 0.9286, 0.9386]], [[0.90, 0.91, 0.92, 0.905, 0.915]], Design(margin=0.0))
    assert [row.state for row in result.rows] == [UNDECIDED] and result.wanted == {0: 4}


def test_equivalence_to_a_baseline_is_called_on_the_one_sided_calibration_of_its_two_tests():
    """TOST p = 0.0251 against 5 baseline runs, margin 0.0123 (statsmodels' ttost_ind): 3.85% of one-sided null
    races reach it, within the race's level of 4% (4.18% of two-sided ones, which would leave it undecided)."""
    result = race_against([[0.909, 0.911, 0.912]], [[0.90, 0.91, 0.92, 0.905, 0.915]], Design(margin=0.0123))
    assert [row.state for row in result.rows] == [EQUIVALENT] and result.stop == DECIDED


def test_a_setting_raced_against_a_baseline_gets_the_repeated_interval_of_its_seeds():
    """The same interval as in a race among settings: wider than the plain one at the race's level."""
    design = Design()
    against = race_against([[0.90, 0.91, 0.92]], [[0.90, 0.91, 0.92]], design).rows[0]
    among = race([[0.90, 0.91, 0.92], [0.90, 0.91, 0.92]], design).rows[0]
    assert against.confidence == among.confidence > 1 - design.level
    assert against.interval == among.interval


def test_a_later_look_against_a_baseline_needs_a_smaller_nominal_p_to_call_it_equivalent():
    """Repeated TOST p (margin 0.003) against 8 baseline runs over 3..6 seeds: 0.082 at every look, not yet
    equivalent (about 0.03 at 6 seeds were later looks held to a higher level)."""
    now = [0.9036, 0.8975, 0.8966, 0.8976, 0.8976, 0.9006]
    baseline = [0.9, 0.901, 0.899, 0.9005, 0.8995, 0.9, 0.9002, 0.8998]
    result = race_against([now], [baseline], Design(margin=0.003))
    assert [row.state for row in result.rows] == [UNDECIDED] * 4
    assert result.wanted == {0: 7}


def test_a_race_of_one_look_against_a_baseline_is_the_plain_t_test():
    """min_seeds = max_seeds: one look, so the repeated p is the pooled t-test's (0.0082 here): better at once."""
    now, baseline = [0.93, 0.925, 0.935], [0.90, 0.91, 0.92, 0.905, 0.915]
    assert stats.ttest_ind(now, baseline).pvalue == pytest.approx(0.0082, abs=0.0001)
    result = race_against([now], [baseline], Design(min_seeds=3, max_seeds=3, margin=0.0))
    assert [row.state for row in result.rows] == [BETTER] and result.stop == DECIDED
