"""The statistics behind summary.csv and compare, every one of them from scipy.stats.

- a mean over seeds with its t-interval (timing), and for an accuracy an interval that stays inside [0, 1]
  (a t-interval on the logit scale, back-transformed);
- Welch's t-test on two sets of seeds (no equal-variance assumption);
- the exact McNemar test on two runs scored on the same test images (a binomial test on the discordant images);
- Holm's step-down correction, so many rows of a comparison do not make one false `better` likely;
- a bootstrap interval for the B/A ratio of median epoch times.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0  # fixed, so the same inputs always give the same interval
NAN = float("nan")


@dataclass(frozen=True)
class MeanInterval:
    """The mean of n values, their standard deviation and the t-interval of the mean (NaN where n < 2)."""

    n: int
    mean: float
    sd: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> MeanInterval:
    values = np.asarray([value for value in values if not math.isnan(value)], dtype=float)
    n = len(values)
    if n == 0:
        return MeanInterval(0, NAN, NAN, NAN, NAN)
    mean = float(np.mean(values))
    if n == 1:
        return MeanInterval(1, mean, NAN, NAN, NAN)
    sd = float(np.std(values, ddof=1))
    if sd == 0:  # every seed gave the same number: the interval is that number (scipy would give NaN)
        return MeanInterval(n, mean, 0.0, mean, mean)
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=stats.sem(values))
    return MeanInterval(n, mean, sd, float(low), float(high))


# Accuracies of exactly 0 or 1 have no logit: they are moved this far inside (half an image of a 5,000-image test set).
ACCURACY_EDGE = 1e-4


def accuracy_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> MeanInterval:
    """The mean accuracy over seeds with an interval inside [0, 1]: a t-interval of the mean of the seeds'
    logits, back-transformed. The mean and sd are the plain ones of the accuracies; the interval is not symmetric
    about the mean, and it narrows towards 0 or 1, where a plain t-interval crosses the bound (docs/statistics.md)."""
    plain = mean_interval(values, confidence)
    if plain.n < 2 or plain.sd == 0:
        return plain
    given = [value for value in values if not math.isnan(value)]
    logits = special.logit(np.clip(given, ACCURACY_EDGE, 1 - ACCURACY_EDGE))
    if float(np.std(logits, ddof=1)) == 0:  # every seed within ACCURACY_EDGE of the same bound: their range
        return MeanInterval(plain.n, plain.mean, plain.sd, min(given), max(given))
    low, high = stats.t.interval(confidence, plain.n - 1, loc=float(np.mean(logits)), scale=stats.sem(logits))
    return MeanInterval(plain.n, plain.mean, plain.sd, float(special.expit(low)), float(special.expit(high)))


@dataclass(frozen=True)
class Difference:
    """B minus A, its confidence interval and two-sided p-value, and the test that gave them.

    For McNemar, `b` counts the images only A got right and `c` those only B got right.
    """

    test: str
    delta: float
    low: float
    high: float
    p_value: float
    b: int | None = None
    c: int | None = None


def welch(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Difference:
    """Welch's t-test of mean(B) - mean(A), with its interval on Welch–Satterthwaite degrees of freedom."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # both sides constant: scipy answers NaN, which we keep
        result = stats.ttest_ind(np.asarray(b, dtype=float), np.asarray(a, dtype=float), equal_var=False)
        interval = result.confidence_interval(confidence)
    delta = float(np.mean(b) - np.mean(a))
    return Difference("welch", delta, float(interval.low), float(interval.high), float(result.pvalue))


def mcnemar(right_a: np.ndarray, right_b: np.ndarray, confidence: float = CONFIDENCE) -> Difference:
    """The exact McNemar test: under "A and B are as good", each discordant image is a fair coin toss.

    The interval is the exact (Clopper–Pearson) interval of c / (b + c), turned into an accuracy difference
    (c - b) / N; like the test, it is conditional on the number of discordant images.
    """
    right_a, right_b = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    images = len(right_a)
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    delta = (c - b) / images
    if b + c == 0:  # the two runs got exactly the same images right
        return Difference("mcnemar", 0.0, 0.0, 0.0, 1.0, b, c)
    result = stats.binomtest(c, b + c, 0.5)
    share = result.proportion_ci(confidence, method="exact")
    scale = (b + c) / images
    return Difference("mcnemar", delta, scale * (2 * share.low - 1), scale * (2 * share.high - 1),
                      float(result.pvalue), b, c)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN): reject where adjusted p <= alpha.

    It keeps the chance of any false `better`/`worse` among all rows at alpha, assuming nothing about how the
    rows depend on each other, and rejects at least as much as Bonferroni.
    """
    finite = [(p, index) for index, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [NAN] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(sorted(finite)):
        running = max(running, min(1.0, (len(finite) - rank) * p))
        adjusted[index] = running
    return adjusted


def verdict(delta: float, adjusted_p: float, alpha: float) -> str:
    """`better`/`worse` (B against A) where the adjusted p-value is at most alpha, else `inconclusive`; `` untested."""
    if math.isnan(adjusted_p):
        return ""
    if adjusted_p > alpha:
        return "inconclusive"
    return "better" if delta > 0 else "worse"


@dataclass(frozen=True)
class Ratio:
    """median(B) / median(A) with a percentile-bootstrap interval (NaN with fewer than 2 values on a side)."""

    ratio: float
    low: float
    high: float


def median_ratio(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Ratio:
    """The B/A ratio of medians; the interval resamples each side's values (epochs of every seed) independently.

    The log ratio is bootstrapped with the two sides in a fixed order (whichever sorts first), so swapping A and B
    gives exactly the inverse ratio and interval.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ratio = float(np.median(b) / np.median(a)) if len(a) and len(b) else NAN
    if len(a) < 2 or len(b) < 2:
        return Ratio(ratio, NAN, NAN)
    swapped = sorted(b.tolist()) < sorted(a.tolist())
    first, second = (b, a) if swapped else (a, b)

    def log_ratio(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return np.log(np.median(y, axis=axis)) - np.log(np.median(x, axis=axis))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a side whose values are all equal: a zero-width interval is right
        result = stats.bootstrap((first, second), log_ratio, vectorized=True, confidence_level=confidence,
                                 method="percentile", n_resamples=BOOTSTRAP_RESAMPLES,
                                 rng=np.random.default_rng(BOOTSTRAP_SEED))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if swapped:
        low, high = -high, -low
    return Ratio(ratio, math.exp(low), math.exp(high))


def time_verdict(interval: Ratio) -> str:
    """`faster` or `slower` (B against A) where the interval leaves out 1, else `inconclusive`; `` untested."""
    if math.isnan(interval.low):
        return ""
    if interval.high < 1:
        return "faster"
    return "slower" if interval.low > 1 else "inconclusive"
