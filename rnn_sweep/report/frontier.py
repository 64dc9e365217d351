"""The best for a time budget: which settings no other beats on both accuracy and epoch time (the frontier), and
the fastest setting shown as accurate as the best within a margin, or what would decide it.

Equivalence is Welch's two one-sided tests (TOST): a setting is as accurate as the best when its mean accuracy is
shown above best - margin and below best + margin, each one-sided at `alpha`. Where nothing faster is shown
equivalent yet, a normal approximation of the TOST's power says how many seeds each close candidate (and the
best) would likely need. docs/effects.md explains the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from rnn_sweep.record.columns import ACCURACY, setting_text
from rnn_sweep.record.fold import counted

DEFAULT_MARGIN = 0.002  # the accuracy difference that does not matter (the race sweeper's default too)
ALPHA = 0.05
POWER = 0.8  # the chance the suggested seeds decide it, if the observed difference and sd hold
CANDIDATES = 3  # how many undecided faster settings the advice names
ACCURACY_MEAN, EPOCH_TIME = "test_accuracy_mean", "epoch_seconds_median"


def frontier(summary: pd.DataFrame) -> pd.Series:
    """Whether each summary row is on the frontier: no other setting has a mean accuracy at least as high and a
    median epoch time at least as low, and one of them strictly better. Rows without both numbers are not."""
    accuracy, seconds = summary[ACCURACY_MEAN].astype(float), summary[EPOCH_TIME].astype(float)
    usable = accuracy.notna() & seconds.notna()
    marks = []
    for index in summary.index:
        if not usable[index]:
            marks.append(False)
            continue
        at_least = usable & (accuracy >= accuracy[index]) & (seconds <= seconds[index])
        strictly = (accuracy > accuracy[index]) | (seconds < seconds[index])
        marks.append(not (at_least & strictly).any())
    return pd.Series(marks, index=summary.index, dtype=bool)


def tost_welch(values: list[float], best: list[float], margin: float) -> float:
    """The TOST p-value that mean(values) - mean(best) lies within (-margin, +margin), Welch's t on each side
    (statsmodels' ttost_ind with usevar='unequal' gives the same); NaN where either side has under 2 values."""
    a, b = np.asarray(values, dtype=float), np.asarray(best, dtype=float)
    if len(a) < 2 or len(b) < 2 or (a.var() == 0 and b.var() == 0):
        return math.nan
    above = stats.ttest_ind(a + margin, b, equal_var=False, alternative="greater").pvalue
    below = stats.ttest_ind(a - margin, b, equal_var=False, alternative="less").pvalue
    return float(max(above, below))


def seeds_to_decide(sd: float, difference: float, margin: float, alpha: float = ALPHA,
                    power: float = POWER) -> int | None:
    """Seeds per setting for a TOST to show equivalence with `power` if the true difference and the sd are what was
    observed (normal approximation: n = 2 sd^2 (z_{1-alpha} + z_{power})^2 / (margin - |difference|)^2);
    None where the observed difference is not inside the margin (more seeds would rather show it is not)."""
    gap = margin - abs(difference)
    if gap <= 0 or not math.isfinite(sd):
        return None
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    return max(2, math.ceil(2 * sd ** 2 * z ** 2 / gap ** 2))


@dataclass(frozen=True)
class Candidate:
    """A setting faster than the best but not yet shown equivalent, and the seeds that would likely decide it."""

    setting: str
    n: int
    difference: float  # its mean accuracy minus the best's
    p_value: float  # TOST
    seeds_needed: int | None  # per setting, for it and for the best; None: its gap exceeds the margin


@dataclass(frozen=True)
class Recommendation:
    """The answer for a time budget: `chosen` (a setting's label) or None with `candidates` that might become it."""

    margin: float
    best: str | None = None
    best_n: int = 0
    chosen: str | None = None
    chosen_p: float = math.nan
    candidates: list[Candidate] = field(default_factory=list)
    reason: str = ""

    def sentences(self) -> list[str]:
        """What the terminal and the page say."""
        if self.best is None:
            return [self.reason]
        if self.chosen == self.best:
            return [f"Recommended: {self.best}, the most accurate setting, which {self.reason}."]
        if self.chosen is not None:
            return [f"Recommended: {self.chosen}, the fastest setting shown as accurate as the best ({self.best}) "
                    f"within ±{self.margin:g} (Welch TOST p = {self.chosen_p:.3g})."]
        lines = [f"No faster setting is shown as accurate as the best ({self.best}, n={self.best_n}) within "
                 f"±{self.margin:g} yet."]
        for candidate in self.candidates:
            if candidate.seeds_needed is None:
                lines.append(f"  {candidate.setting} (n={candidate.n}): {candidate.difference:+.4f} against the best, "
                             "outside the margin: more seeds would more likely show it is not as accurate.")
            else:
                lines.append(f"  {candidate.setting} (n={candidate.n}): {candidate.difference:+.4f}, TOST p = "
                             f"{candidate.p_value:.3g}; about {max(0, candidate.seeds_needed - candidate.n)} more "
                             f"seeds of it and {max(0, candidate.seeds_needed - self.best_n)} more of the best "
                             f"({candidate.seeds_needed} each) would likely decide it ({POWER:.0%} power).")
        return lines


def recommend(results: pd.DataFrame, summary: pd.DataFrame, keys: list[str],
              margin: float = DEFAULT_MARGIN) -> Recommendation:
    """The fastest setting shown equivalent to the most accurate one within `margin`, from the runs that count;
    `keys`: the summary's setting columns (the labels name those that vary)."""
    runs = counted(results)
    usable = summary[(summary["n"] >= 2) & summary[EPOCH_TIME].notna()] if not summary.empty else summary
    if len(usable) < 2:
        return Recommendation(margin, reason="No recommendation: it needs two or more settings with 2+ seeds each "
                                             "and an epoch time.")
    accuracies = {index: _accuracies(runs, row, keys) for index, row in usable.iterrows()}
    shown_keys = [key for key in keys if summary[key].nunique(dropna=True) > 1] or keys
    best = usable[ACCURACY_MEAN].astype(float).idxmax()
    best_label, best_n = setting_text(usable.loc[best], shown_keys), int(usable.loc[best, "n"])
    faster = usable[usable[EPOCH_TIME] < usable.loc[best, EPOCH_TIME]].sort_values(EPOCH_TIME)
    if faster.empty:
        return Recommendation(margin, best_label, best_n, best_label, reason="is also the fastest")
    tested = [(index, tost_welch(accuracies[index], accuracies[best], margin)) for index in faster.index]
    shown = [(index, p) for index, p in tested if p < ALPHA]
    if shown:
        index, p = shown[0]  # `faster` is sorted by epoch time: the first shown is the fastest
        return Recommendation(margin, best_label, best_n, setting_text(usable.loc[index], shown_keys), p)
    closest = sorted(tested, key=lambda item: (math.isnan(item[1]), item[1]))[:CANDIDATES]
    candidates = []
    for index, p in closest:
        values, top = accuracies[index], accuracies[best]
        sd = math.sqrt((np.var(values, ddof=1) + np.var(top, ddof=1)) / 2)
        difference = float(np.mean(values) - np.mean(top))
        candidates.append(Candidate(setting_text(usable.loc[index], shown_keys), len(values), difference, p,
                                    seeds_to_decide(sd, difference, margin)))
    return Recommendation(margin, best_label, best_n, None, candidates=candidates)


def runs_of(runs: pd.DataFrame, row: pd.Series, keys: list[str]) -> pd.DataFrame:
    """The runs of the setting a summary row stands for."""
    match = pd.Series(True, index=runs.index)
    for key in keys:
        match &= runs[key].isna() if pd.isna(row[key]) else runs[key] == row[key]
    return runs[match]


def _accuracies(runs: pd.DataFrame, row: pd.Series, keys: list[str]) -> list[float]:
    return pd.to_numeric(runs_of(runs, row, keys)[ACCURACY], errors="coerce").dropna().tolist()
