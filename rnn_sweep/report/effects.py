"""effects.csv: which swept settings matter, and how much, next to what is left to the seeds.

For the test accuracy and the epoch time (on a log scale: settings change time by factors, not by seconds) a
Type II ANOVA (statsmodels) of every swept factor: all main effects, plus every two-way interaction when every
combination of the grid ran on 2+ seeds. Per factor: its p-value and its share of the variance (partial eta
squared, SS_factor / (SS_factor + SS_residual)) with a bootstrap interval (seeds resampled within each setting);
per level: the mean of its runs with a 95% interval (the accuracy's inside [0, 1]); and a `seeds` row: the share
of the variance no setting explains (SS_residual / SS_total), the noise floor. docs/effects.md explains the model
and its limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
import patsy
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from rnn_sweep.record.columns import IMPORTANCE_EVALUATOR, IMPORTANCES_PLOT
from rnn_sweep.record.fold import counted
from rnn_sweep.report.summary import setting_keys
from rnn_sweep.stats.intervals import accuracy_interval, mean_interval

EFFECTS_COLUMNS = ("metric", "factor", "level", "n", "mean", "ci_low", "ci_high", "p_value", "share",
                   "share_ci_low", "share_ci_high")
# The metrics analysed: test accuracy as it is; epoch seconds through log (its level means are geometric means).
METRICS = ("test_accuracy", "epoch_seconds")
LOG_METRICS = ("epoch_seconds",)
BOUNDED_METRICS = ("test_accuracy",)  # a share of images: its level intervals stay inside [0, 1]
SEEDS_ROW = "seeds"  # the factor name of the row holding the share left to the seeds (the residual)
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0  # fixed: the same runs always give the same intervals


@dataclass(frozen=True)
class Effects:
    """The effects table (empty when there is none) and a sentence saying which model gave it, or why none."""

    table: pd.DataFrame
    note: str
    interactions: bool = False


def search_effects() -> Effects:
    """A search's answer: none of its own. Its sampler chose each trial from the results before it, so the trials
    are no designed grid and an ANOVA of them would not hold; Optuna's importance evaluator says what matters."""
    return Effects(pd.DataFrame(columns=EFFECTS_COLUMNS),
                   f"No effects.csv for a search: Optuna chose its trials from the results before them, so an ANOVA "
                   f"of them would not hold. What matters: Optuna's {IMPORTANCE_EVALUATOR} importance evaluator, "
                   f"{IMPORTANCES_PLOT}.")


def sweep_effects(results: pd.DataFrame, resamples: int = BOOTSTRAP_RESAMPLES) -> Effects:
    """The effects of every swept setting on the runs that count (fold.counted), or an empty table and why."""
    runs = counted(results) if not results.empty else results
    factors = [key for key in setting_keys(runs) if runs[key].nunique(dropna=True) > 1] if not runs.empty else []
    empty = pd.DataFrame(columns=EFFECTS_COLUMNS)
    if not factors:
        return Effects(empty, "No effects: the sweep varies no setting (or no run ended ok).")
    runs = runs.dropna(subset=factors)
    cells = runs.groupby(factors, sort=True).size()
    if cells.max() < 2:
        return Effects(empty, "No effects: every setting ran once; sweep with seeds=2 or more to tell the "
                              "settings' effects from seed noise.")
    full_grid = len(cells) == math.prod(runs[factor].nunique() for factor in factors)
    interactions = len(factors) > 1 and full_grid and cells.min() >= 2
    rows = []
    for metric in METRICS:
        data = _metric_frame(runs, factors, metric)
        if data is not None:
            rows += _metric_rows(data, metric, factors, interactions, resamples)
    if not rows:
        return Effects(empty, "No effects: too few runs for a model with these factors (no residual degrees "
                              "of freedom left to the seeds).")
    model = "main effects and two-way interactions" if interactions else "main effects only" + (
        "" if len(factors) == 1 else " (not every combination ran on 2+ seeds)")
    return Effects(pd.DataFrame(rows, columns=EFFECTS_COLUMNS), f"Type II ANOVA of {', '.join(factors)}: {model}.",
                   interactions)


def _metric_frame(runs: pd.DataFrame, factors: list[str], metric: str) -> pd.DataFrame | None:
    """The runs with a value of `metric` (log where LOG_METRICS), factors as-is, under safe names f0, f1, ..."""
    if metric not in runs.columns:
        return None
    values = pd.to_numeric(runs[metric], errors="coerce").astype(float)
    keep = values.notna() & (values > 0 if metric in LOG_METRICS else True)
    if not keep.any():
        return None
    data = pd.DataFrame({f"f{i}": runs.loc[keep, factor].astype(object).tolist() for i, factor in enumerate(factors)})
    data["y"] = np.log(values[keep].to_numpy()) if metric in LOG_METRICS else values[keep].to_numpy()
    return data


def _terms(count: int, interactions: bool) -> list[tuple[int, ...]]:
    mains = [(i,) for i in range(count)]
    return mains + (list(combinations(range(count), 2)) if interactions else [])


def _term_name(term: tuple[int, ...], names: list[str]) -> str:
    return ":".join(names[i] for i in term)


def _formula_term(term: tuple[int, ...]) -> str:
    return ":".join(f"C(f{i})" for i in term)


def _metric_rows(data: pd.DataFrame, metric: str, factors: list[str], interactions: bool,
                 resamples: int) -> list[dict]:
    terms = _terms(len(factors), interactions)
    design = patsy.dmatrix(" + ".join(_formula_term(term) for term in terms), data, return_type="dataframe")
    if len(data) - np.linalg.matrix_rank(design.to_numpy()) < 1:
        return []
    fit = smf.ols("y ~ " + " + ".join(_formula_term(term) for term in terms), data).fit()
    table = anova_lm(fit, typ=2)
    residual = float(table.loc["Residual", "sum_sq"])
    total = float(((data["y"] - data["y"].mean()) ** 2).sum())
    low, high = _bootstrap_shares(data, design, terms, resamples)
    rows = []
    for index, term in enumerate(terms):
        sum_sq = float(table.loc[_formula_term(term), "sum_sq"])
        rows.append(_factor_row(metric, _term_name(term, factors), len(data),
                                float(table.loc[_formula_term(term), "PR(>F)"]), _share(sum_sq, sum_sq + residual),
                                low[index], high[index]))
        if len(term) == 1:
            rows += _level_rows(data, metric, factors[term[0]], f"f{term[0]}")
    rows.append(_factor_row(metric, SEEDS_ROW, len(data), math.nan, _share(residual, total), low[-1], high[-1]))
    return rows


def _factor_row(metric: str, factor: str, n: int, p_value: float, share: float, low: float, high: float) -> dict:
    return {"metric": metric, "factor": factor, "level": None, "n": n, "mean": None, "ci_low": None,
            "ci_high": None, "p_value": p_value, "share": share, "share_ci_low": low, "share_ci_high": high}


def _level_rows(data: pd.DataFrame, metric: str, factor: str, column: str) -> list[dict]:
    """The mean of every run at each level with its 95% t-interval; for the accuracy, summary.csv's interval inside
    [0, 1] (stats.intervals.accuracy_interval); for a log metric, back in seconds (the geometric mean and its
    interval)."""
    back = np.exp if metric in LOG_METRICS else (lambda value: value)
    interval_of = accuracy_interval if metric in BOUNDED_METRICS else mean_interval
    rows = []
    for level, group in data.groupby(column, sort=True):
        interval = interval_of(group["y"].tolist())
        rows.append({"metric": metric, "factor": factor, "level": str(level), "n": interval.n,
                     "mean": float(back(interval.mean)), "ci_low": float(back(interval.low)),
                     "ci_high": float(back(interval.high)), "p_value": None, "share": None, "share_ci_low": None,
                     "share_ci_high": None})
    return rows


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else math.nan


def type2_sums_of_squares(design: pd.DataFrame, terms: list[tuple[int, ...]], y: np.ndarray) -> tuple[list[float],
                                                                                                      float]:
    """Each term's Type II sum of squares and the residual's, for many `y` on one design: a term's SS is what it
    removes from the residual of the model of every term that does not contain it (SAS/statsmodels Type II)."""
    projector = _ResidualProjector(design, terms)
    full = projector.residual_sum(tuple(terms), y)
    sums = []
    for term in terms:
        without = tuple(other for other in terms if not set(term) <= set(other))
        sums.append(projector.residual_sum(without, y) - projector.residual_sum((*without, term), y))
    return sums, full


class _ResidualProjector:
    """Residual sums of squares of sub-models of one design, each model's orthonormal basis computed once."""

    def __init__(self, design: pd.DataFrame, terms: list[tuple[int, ...]]) -> None:
        slices = design.design_info.term_name_slices
        self._columns = {term: slices[_formula_term(term)] for term in terms}
        self._design = design.to_numpy()
        self._bases: dict[frozenset, np.ndarray] = {}

    def residual_sum(self, model: tuple[tuple[int, ...], ...], y: np.ndarray) -> np.ndarray:
        key = frozenset(model)
        if key not in self._bases:
            picked = [0] + [c for term in model for c in range(*self._columns[term].indices(self._design.shape[1]))]
            u, s, _ = np.linalg.svd(self._design[:, sorted(set(picked))], full_matrices=False)
            self._bases[key] = u[:, s > s.max() * 1e-10]
        basis = self._bases[key]
        residual = y - basis @ (basis.T @ y)
        return (residual ** 2).sum(axis=0)


def _bootstrap_shares(data: pd.DataFrame, design: pd.DataFrame, terms: list[tuple[int, ...]],
                      resamples: int) -> tuple[list[float], list[float]]:
    """Percentile 95% intervals of each term's partial eta squared and of the seeds' share: every setting's runs
    resampled with replacement (the design, hence every projection, stays the same)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    cells = list(data.groupby([c for c in data.columns if c != "y"]).indices.values())
    y = data["y"].to_numpy()
    picks = np.empty((len(y), resamples), dtype=int)
    for rows in cells:
        picks[rows] = rows[rng.integers(0, len(rows), size=(len(rows), resamples))]
    samples = y[picks]
    sums, residual = type2_sums_of_squares(design, terms, samples)
    total = ((samples - samples.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = [term / (term + residual) for term in sums] + [residual / total]
    # A share is in [0, 1]; a factor with no effect at all leaves rounding error on either side of 0 (-1e-16).
    bounds = [np.clip(np.nanpercentile(share, [2.5, 97.5]), 0, 1) if np.isfinite(share).any() else (math.nan, math.nan)
              for share in shares]
    return [float(b[0]) for b in bounds], [float(b[1]) for b in bounds]
