"""effects.csv (what matters) and the recommendation for a time budget, on tables and sweep folders built from
records on disk: no training. The statistics are checked against a published ANOVA table, independent
statsmodels fits and a simulation, never against themselves."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from helpers.cli import run_cli
from helpers.config import compose_config
from omegaconf import OmegaConf
from scipy import special, stats
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.weightstats import ttost_ind

from rnn_sweep import cli
from rnn_sweep.config.validate import validate
from rnn_sweep.record.columns import (
    EFFECTS_CSV,
    HYDRA_DIR,
    IMPORTANCE_EVALUATOR,
    IMPORTANCES_PLOT,
    MULTIRUN_FILE,
    TRIAL_JOB,
    TRIAL_OVERRIDES,
    label,
)
from rnn_sweep.record.result_files import new_record, write_result
from rnn_sweep.report.effects import EFFECTS_COLUMNS, SEEDS_ROW, sweep_effects
from rnn_sweep.report.frontier import frontier, recommend, seeds_to_decide, tost_welch
from rnn_sweep.report.plots import _accuracy_vs_epoch_seconds
from rnn_sweep.report.summary import setting_keys, summary_frame
from rnn_sweep.report.sweep_report import write_sweep_report

# R's datasets::ToothGrowth (Crampton 1947, J. Nutrition 33:491-504; McNeil 1977, "Interactive Data Analysis"):
# tooth length of 60 guinea pigs by supplement (VC, OJ) and dose (0.5, 1, 2 mg/day), 10 per cell.
TOOTH_GROWTH = {
    ("VC", 0.5): [4.2, 11.5, 7.3, 5.8, 6.4, 10, 11.2, 11.2, 5.2, 7],
    ("VC", 1.0): [16.5, 16.5, 15.2, 17.3, 22.5, 17.3, 13.6, 14.5, 18.8, 15.5],
    ("VC", 2.0): [23.6, 18.5, 33.9, 25.5, 26.4, 32.5, 26.7, 21.5, 23.3, 29.5],
    ("OJ", 0.5): [15.2, 21.5, 17.6, 9.7, 14.5, 10, 8.2, 9.4, 16.5, 9.7],
    ("OJ", 1.0): [19.7, 23.3, 23.6, 26.4, 20, 25.2, 25.8, 21.2, 14.5, 27.3],
    ("OJ", 2.0): [25.5, 26.4, 22.4, 24.5, 24.8, 30.9, 26.4, 27.3, 29.4, 23],
}
# Its two-way ANOVA of len ~ supp * dose as published (e.g. STHDA's "Two-Way ANOVA Test in R", R's
# `summary(aov(len ~ supp * dose))`; the design is balanced, so Type I and Type II agree):
# supp  Df 1  Sum Sq 205.4  F 15.572  p 0.000231
# dose  Df 2  Sum Sq 2426.4 F 92.000  p < 2e-16
# supp:dose Df 2 Sum Sq 108.3 F 4.107 p 0.0219;  Residuals Df 54  Sum Sq 712.1
PUBLISHED = {"supp": (205.350, 0.000231), "dose": (2426.434, None), "supp:dose": (108.319, 0.0219)}
PUBLISHED_RESIDUAL = 712.106


def _tooth_growth() -> pd.DataFrame:
    """ToothGrowth as a sweep's results table: two swept keys of their own, the length as the accuracy."""
    rows = [{"supp": supp, "dose": dose, "test_accuracy": value, "status": "ok"}
            for (supp, dose), values in TOOTH_GROWTH.items() for value in values]
    return pd.DataFrame(rows)


def _factor(table: pd.DataFrame, metric: str, factor: str) -> pd.Series:
    (row,) = table[(table["metric"] == metric) & (table["factor"] == factor) & table["level"].isna()].to_dict("records")
    return pd.Series(row)


def test_effects_reproduce_the_published_tooth_growth_anova():
    effects = sweep_effects(_tooth_growth())
    assert effects.interactions and list(effects.table.columns) == list(EFFECTS_COLUMNS)
    table = effects.table
    for factor, (sum_sq, p_value) in PUBLISHED.items():
        row = _factor(table, "test_accuracy", factor)
        assert row["share"] == pytest.approx(sum_sq / (sum_sq + PUBLISHED_RESIDUAL), abs=1e-4)
        if p_value is not None:
            assert row["p_value"] == pytest.approx(p_value, rel=0.01)
        assert 0 <= row["share_ci_low"] <= row["share"] <= row["share_ci_high"] <= 1
    assert _factor(table, "test_accuracy", "dose")["p_value"] < 2e-16
    total = sum(sum_sq for sum_sq, _ in PUBLISHED.values()) + PUBLISHED_RESIDUAL  # balanced: the SS add up
    assert _factor(table, "test_accuracy", SEEDS_ROW)["share"] == pytest.approx(PUBLISHED_RESIDUAL / total, abs=1e-4)
    levels = table[(table["factor"] == "supp") & table["level"].notna()].set_index("level")
    assert levels.loc["OJ", "mean"] == pytest.approx(20.6633, abs=1e-4) and levels.loc["VC", "n"] == 30
    assert set(table["metric"]) == {"test_accuracy"}  # no epoch time in this table: no rows for it


def _synthetic_sweep(seeds: dict[tuple[str, int], int], seed: int = 1) -> pd.DataFrame:
    """A cell x units sweep's results: `seeds[(cell, units)]` runs each, accuracy and epoch time with real effects."""
    rng = np.random.default_rng(seed)
    rows = []
    for (cell, units), count in seeds.items():
        for run in range(count):
            accuracy = 0.9 + (0.02 if cell == "gru" else 0) + units / 4000 + rng.normal(0, 0.01)
            seconds = math.exp(0.5 * (cell == "lstm") + units / 64 + rng.normal(0, 0.1))
            rows.append({"cell": cell, "units": units, "seed": run, "status": "ok", "test_accuracy": accuracy,
                         "epoch_seconds": seconds, "batch_size": 64})
    rows.append({"cell": "gru", "units": 16, "seed": 9, "status": "failed", "test_accuracy": None,
                 "epoch_seconds": None, "batch_size": 64})  # a failed run does not count
    return pd.DataFrame(rows)


UNBALANCED = {("gru", 16): 3, ("gru", 64): 2, ("lstm", 16): 2, ("lstm", 64): 4, ("simple_rnn", 16): 2,
              ("simple_rnn", 64): 3}


@pytest.mark.parametrize("metric,response", [("test_accuracy", "test_accuracy"),
                                             ("epoch_seconds", "np.log(epoch_seconds)")])
def test_effects_match_an_independent_statsmodels_fit(metric, response):
    frame = _synthetic_sweep(UNBALANCED)
    effects = sweep_effects(frame)
    assert effects.interactions and "cell, units" in effects.note
    ok = frame[frame["status"] == "ok"]
    fit = smf.ols(f"{response} ~ C(cell) * C(units)", ok).fit()
    expected = anova_lm(fit, typ=2)
    residual = expected.loc["Residual", "sum_sq"]
    for factor, term in (("cell", "C(cell)"), ("units", "C(units)"), ("cell:units", "C(cell):C(units)")):
        row = _factor(effects.table, metric, factor)
        assert row["p_value"] == pytest.approx(expected.loc[term, "PR(>F)"], rel=1e-6)
        sum_sq = expected.loc[term, "sum_sq"]
        assert row["share"] == pytest.approx(sum_sq / (sum_sq + residual), rel=1e-6)
        assert row["n"] == len(ok)
    seeds = _factor(effects.table, metric, SEEDS_ROW)
    assert seeds["share"] == pytest.approx(1 - fit.rsquared, rel=1e-6)
    levels = effects.table[(effects.table["metric"] == metric) & (effects.table["factor"] == "cell")
                           & effects.table["level"].notna()].set_index("level")
    for cell, runs in ok.groupby("cell"):  # accuracy: a t-interval of the logits; time: of the logs
        values = special.logit(runs[metric]) if metric == "test_accuracy" else np.log(runs[metric])
        low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        mean = runs[metric].mean() if metric == "test_accuracy" else np.exp(values.mean())
        back = special.expit if metric == "test_accuracy" else np.exp
        assert levels.loc[cell, ["mean", "ci_low", "ci_high"]].tolist() == pytest.approx([mean, back(low), back(high)])


def test_bootstrap_intervals_are_fixed_and_resample_within_settings():
    frame = _synthetic_sweep(UNBALANCED)
    first, again = sweep_effects(frame).table, sweep_effects(frame).table
    pd.testing.assert_frame_equal(first, again)  # fixed rng seed
    factors = first[first["level"].isna()]
    assert (factors["share_ci_low"] <= factors["share_ci_high"]).all()
    assert factors[["share_ci_low", "share_ci_high"]].apply(lambda c: c.between(0, 1)).all().all()


def test_main_effects_only_when_a_combination_ran_once():
    frame = _synthetic_sweep({**UNBALANCED, ("lstm", 16): 1})
    effects = sweep_effects(frame)
    assert not effects.interactions and "main effects only" in effects.note
    assert "cell:units" not in set(effects.table["factor"])
    ok = frame[frame["status"] == "ok"]
    expected = anova_lm(smf.ols("test_accuracy ~ C(cell) + C(units)", ok).fit(), typ=2)
    assert _factor(effects.table, "test_accuracy", "units")["p_value"] == pytest.approx(
        expected.loc["C(units)", "PR(>F)"], rel=1e-6)


def test_no_effects_without_seeds_or_without_a_swept_setting():
    one_seed = sweep_effects(_synthetic_sweep(dict.fromkeys(UNBALANCED, 1)))
    assert one_seed.table.empty and "every setting ran once" in one_seed.note
    nothing_swept = sweep_effects(_synthetic_sweep({("gru", 16): 3}))
    assert nothing_swept.table.empty and "varies no setting" in nothing_swept.note


def _summary(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"cell": name, "n": 3, "test_accuracy_mean": accuracy, "epoch_seconds_median": seconds}
                         for name, accuracy, seconds in rows])


def test_the_frontier_is_the_settings_no_other_beats_on_both():
    summary = _summary([("a", 0.95, 10.0), ("b", 0.94, 5.0), ("c", 0.93, 6.0), ("d", 0.95, 12.0),
                        ("e", 0.90, 1.0), ("f", 0.94, 5.0), ("g", 0.93, 5.0)])
    # c: b is more accurate and faster; d: a as accurate and faster; g: b as fast and more accurate; b and f tie:
    # neither beats the other.
    assert frontier(summary).tolist() == [True, True, False, False, True, True, False]


def test_the_frontier_plot_draws_both_intervals_and_rings_the_frontier():
    """Each setting's point carries summary.csv's accuracy interval (bounded, so not symmetric about the mean) and
    the interquartile range of its steady epochs; the frontier's settings, and only they, are joined and ringed.
    simple_rnn's seeds spread wide near 0: its interval must not cross 0, as a mean +- half-width bar would."""
    settings = {"gru": ([0.95, 0.951, 0.949], [9.0, 10.0, 11.0]), "lstm": ([0.94, 0.942, 0.938], [4.0, 5.0, 6.0]),
                "simple_rnn": ([0.01, 0.3, 0.35], [6.0, 7.0, 8.0])}
    runs = pd.DataFrame([{"cell": cell, "seed": seed, "status": "ok", "test_accuracy": accuracy,
                          "epoch_seconds": epochs[seed], "epoch_seconds_all": [30.0, epochs[seed]]}
                         for cell, (accuracies, epochs) in settings.items()
                         for seed, accuracy in enumerate(accuracies)])
    summary = summary_frame(runs)
    axes = _accuracy_vs_epoch_seconds(runs, summary, Path("sweep")).axes[0]
    drawn = {}
    for container in axes.containers:
        (point,) = container.lines[0].get_xydata()
        horizontal, vertical = (bars.get_segments()[0] for bars in container.lines[2])
        drawn[point[0]] = (point[1], horizontal[:, 0].tolist(), vertical[:, 1].tolist(), container.lines[0].get_color())
    for cell, (_, epochs) in settings.items():
        row = summary.set_index("cell").loc[cell]
        accuracy, across, up, colour = drawn[row["epoch_seconds_median"]]
        assert accuracy == pytest.approx(row["test_accuracy_mean"])
        assert across == pytest.approx(np.percentile(epochs, [25, 75]).tolist())
        assert up == pytest.approx([row["test_accuracy_ci_low"], row["test_accuracy_ci_high"]])
        assert colour == ("#777777" if cell == "simple_rnn" else "#a40000")  # lstm is faster and more accurate
    assert drawn[7.0][2][0] > 0
    (ringed,) = [line for line in axes.get_lines() if line.get_label().startswith("frontier")]
    assert ringed.get_xydata().ravel().tolist() == pytest.approx([5.0, 0.94, 10.0, 0.95])


def test_tost_matches_statsmodels_ttost_ind():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.normal(0.95, 0.003, 4), rng.normal(0.951, 0.001, 6)
        expected, _, _ = ttost_ind(a, b, -0.002, 0.002, usevar="unequal")
        assert tost_welch(a.tolist(), b.tolist(), 0.002) == pytest.approx(expected, rel=1e-9)


def test_seeds_to_decide_give_about_their_power_in_simulation():
    """The normal approximation's seeds, checked by simulating Welch TOSTs at that n (scipy, vectorised)."""
    sd, difference, margin = 0.003, 0.0005, 0.004
    n = seeds_to_decide(sd, difference, margin)
    assert n is not None and n >= 2
    rng = np.random.default_rng(0)
    a, b = rng.normal(difference, sd, (4000, n)), rng.normal(0, sd, (4000, n))
    above = stats.ttest_ind(a + margin, b, axis=1, equal_var=False, alternative="greater").pvalue
    below = stats.ttest_ind(a - margin, b, axis=1, equal_var=False, alternative="less").pvalue
    # Aimed at 0.8; the t-tails cost a little at small n (n = 10 here: 0.75). A two-sided z would give 13 and 0.87.
    assert n == 10 and 0.72 <= (np.maximum(above, below) < 0.05).mean() <= 0.82
    assert seeds_to_decide(sd, 0.005, margin) is None  # observed outside the margin: equivalence is not likely


def _runs(settings: dict[str, tuple[list[float], float]]) -> pd.DataFrame:
    return pd.DataFrame([{"cell": name, "seed": i, "status": "ok", "test_accuracy": value, "epoch_seconds": seconds}
                         for name, (values, seconds) in settings.items() for i, value in enumerate(values)])


def _recommend(settings: dict[str, tuple[list[float], float]]):
    runs = _runs(settings)
    summary = summary_frame(runs.assign(epoch_seconds_all=None))
    return recommend(runs, summary, setting_keys(runs), 0.002)


def test_recommends_the_fastest_setting_shown_equivalent_to_the_best():
    answer = _recommend({"gru": ([0.9500, 0.9502, 0.9501, 0.9499], 10.0),
                         "lstm": ([0.9498, 0.9500, 0.9499, 0.9501], 4.0),
                         "lstm-wide": ([0.9499, 0.9501, 0.9500, 0.9502], 6.0),  # equivalent too, but slower
                         "simple_rnn": ([0.90, 0.91, 0.92, 0.905], 1.0)})
    assert answer.best == "cell=gru" and answer.chosen == "cell=lstm" and answer.chosen_p < 0.05
    assert "Recommended: cell=lstm, the fastest setting shown as accurate as the best (cell=gru)" in \
        answer.sentences()[0]


def test_says_none_yet_and_how_many_seeds_would_decide_it():
    answer = _recommend({"gru": ([0.950, 0.953, 0.947], 10.0), "lstm": ([0.949, 0.952, 0.946], 4.0)})
    assert answer.chosen is None and answer.best == "cell=gru"
    (candidate,) = answer.candidates
    assert candidate.setting == "cell=lstm" and candidate.seeds_needed is not None and candidate.seeds_needed > 3
    lines = answer.sentences()
    assert lines[0].startswith("No faster setting is shown as accurate as the best (cell=gru, n=3)")
    assert f"about {candidate.seeds_needed - 3} more seeds of it" in lines[1]


def test_the_best_is_recommended_when_it_is_also_the_fastest():
    answer = _recommend({"gru": ([0.95, 0.951, 0.949], 1.0), "lstm": ([0.90, 0.91, 0.92], 4.0)})
    assert answer.chosen == answer.best == "cell=gru" and "also the fastest" in answer.sentences()[0]


# Sweep folders of real records on disk.
GRID = {("gru", 8): (0.951, 2.0), ("gru", 32): (0.955, 6.0), ("lstm", 8): (0.930, 3.0), ("lstm", 32): (0.954, 8.0)}


def _sweep_on_disk(folder: Path, seeds: int = 3) -> Path:
    rng = np.random.default_rng(5)
    number = 0
    for (cell, units), (accuracy, seconds) in GRID.items():
        setting = compose_config(f"model={cell}", f"model.units={units}")
        for seed in range(seeds):
            overrides = [f"model={cell}", f"model.units={units}", f"seed={seed}"]
            setting.seed = seed  # composed once per setting: a compose per seed would cost most of the test
            typed = validate(setting)
            job = folder / str(number)
            (job / HYDRA_DIR).mkdir(parents=True)
            OmegaConf.save(typed, job / HYDRA_DIR / "config.yaml")
            record = new_record(typed, job, overrides)
            epochs = [seconds * 3, *(seconds * math.exp(rng.normal(0, 0.05)) for _ in range(3))]
            record.update(status="ok", error=None, epochs_completed=4, test_accuracy=accuracy + rng.normal(0, 0.001),
                          epoch_seconds=float(np.median(epochs[1:])), epoch_seconds_all=epochs)
            write_result(job, record)
            number += 1
    (folder / MULTIRUN_FILE).write_text("hydra: {}\n")
    return folder


@pytest.mark.slow
def test_report_writes_effects_csv_and_names_the_recommendation(tmp_path):
    sweep = _sweep_on_disk(tmp_path / "sweep")
    result = run_cli("report", str(sweep), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    effects = pd.read_csv(sweep / EFFECTS_CSV)
    assert list(effects.columns) == list(EFFECTS_COLUMNS)
    assert set(effects["metric"]) == {"test_accuracy", "epoch_seconds"}
    assert {"cell", "units", "cell:units", SEEDS_ROW} <= set(effects["factor"])
    assert "What matters for test accuracy" in result.stdout
    # gru-8 (0.951, 2 s) against the best gru-32 (0.955): 0.004 apart, outside the default margin of 0.002.
    assert "No faster setting is shown as accurate as the best (cell=gru units=32, n=3)" in result.stdout
    wide = write_sweep_report(sweep, margin=0.01).recommendation
    assert wide.sentences()[0].startswith("Recommended: cell=gru units=8, the fastest setting shown as accurate as "
                                          "the best (cell=gru units=32) within ±0.01")


def test_a_search_shows_optunas_importance_evaluator_instead_of_an_anova(tmp_path, capsys):
    """A search's trials were chosen from the results before them, so even where they repeat settings on 2+ seeds
    (as these do) `report` writes no effects.csv, says why, and the page's What matters shows Optuna's importance
    evaluator."""
    optuna = pytest.importorskip("optuna")
    from rnn_sweep.search.study_files import report_study

    sweep = _sweep_on_disk(tmp_path / "search")
    study = optuna.create_study(direction="maximize")
    space = {"cell": optuna.distributions.CategoricalDistribution(["gru", "lstm"]),
             "units": optuna.distributions.CategoricalDistribution([8, 32])}
    for number, (cell, units) in enumerate((cell, units) for cell, units in GRID for _ in range(3)):
        study.add_trial(optuna.trial.create_trial(
            params={"cell": cell, "units": units}, distributions=space, value=GRID[cell, units][0],
            user_attrs={TRIAL_JOB: number, TRIAL_OVERRIDES: [f"model={cell}", f"model.units={units}"]}))
    report_study(study, sweep)
    assert (sweep / IMPORTANCES_PLOT).is_file()
    capsys.readouterr()

    assert cli.run(["report", str(sweep)]) == 0
    assert not (sweep / EFFECTS_CSV).exists()
    said = " ".join(capsys.readouterr().out.split())
    assert f"What matters: Optuna's {IMPORTANCE_EVALUATOR} importance evaluator, {IMPORTANCES_PLOT}" in said, said
    page = (sweep / "report.html").read_text()
    section, plots = page.split('<h2 id="what-matters">What matters</h2>', 1)[1].split("<h2>Plots</h2>", 1)
    what_matters = section.split("<h2>", 1)[0]
    assert f'alt="{IMPORTANCES_PLOT}"' in what_matters and "<table" not in what_matters
    assert IMPORTANCES_PLOT not in plots  # shown once, where it answers the question


def test_report_refuses_a_margin_that_is_not_positive(tmp_path):
    sweep = _sweep_on_disk(tmp_path / "sweep")
    result = run_cli("report", str(sweep), "--margin", "-1", cwd=tmp_path)
    assert result.returncode == 2 and "--margin" in result.stderr and "Traceback" not in result.stderr
    assert not (sweep / EFFECTS_CSV).exists()


def test_one_seed_per_setting_writes_no_effects_csv(tmp_path):
    sweep = _sweep_on_disk(tmp_path / "sweep", seeds=1)
    result = run_cli("report", str(sweep), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (sweep / EFFECTS_CSV).exists() and "every setting ran once" in " ".join(result.stdout.split())


@pytest.mark.slow
def test_the_page_shows_what_matters_the_frontier_and_the_recommendation(tmp_path, browser):
    """report.html rebuilt by `report --html` from records on disk, as headless Chromium renders it."""
    from browser import open_page

    sweep = _sweep_on_disk(tmp_path / "sweep", seeds=4)
    result = run_cli("report", str(sweep), "--html", "--margin", "0.01", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    visit = open_page(browser, sweep / "report.html")
    assert visit.errors == []
    text = visit.facts["text"]
    assert "Recommended: cell=gru units=8, the fastest setting shown as accurate as the best (cell=gru units=32) " \
           "within ±0.01" in text
    time_budget = text[text.index("The best for a time budget"):text.index("What matters")]
    # The frontier, fastest first: gru-8 (2 s) and gru-32 (6 s); the lstm settings are beaten on both.
    assert time_budget.index("cell=gru units=8") < time_budget.index("cell=gru units=32")
    assert "cell=lstm" not in time_budget.split("fastest first.")[1]
    what_matters = text[text.index("What matters"):text.index("Every run")]
    effects = pd.read_csv(sweep / EFFECTS_CSV)
    units = _factor(effects, "test_accuracy", "units")
    assert f"{units['p_value']:.3g}" in what_matters and f"{units['share']:.3f}" in what_matters
    assert "seeds" in what_matters and "lstm" in what_matters and label("epoch_seconds") in what_matters
    images = [image for image in visit.facts["images"] if image["complete"] and image["width"] > 300]
    assert len(images) == len(list(sweep.glob("*.png"))) and (sweep / "accuracy_vs_epoch_seconds.png").is_file()


@pytest.mark.slow
def test_a_trained_grid_with_seeds_ends_with_effects_csv(seeded_grid):
    """A real 2 x 2 grid on 2 seeds: effects.csv at the sweep's end, readable with plain pandas, and the answers
    in the terminal."""
    folder, result = seeded_grid
    assert result.returncode == 0, result.stderr[-3000:]
    effects = pd.read_csv(folder / EFFECTS_CSV)
    assert list(effects.columns) == list(EFFECTS_COLUMNS)
    factors = effects[effects["level"].isna()]
    assert set(factors["factor"]) == {"cell", "units", "cell:units", SEEDS_ROW}  # 2 seeds everywhere: interactions
    assert factors["share"].between(0, 1).all() and factors["p_value"].dropna().between(0, 1).all()
    levels = effects[(effects["metric"] == "test_accuracy") & effects["level"].notna()]
    assert (levels["n"] == 4).all() and levels["mean"].between(0, 1).all()
    stdout = " ".join(result.stdout.split())
    assert "What matters for test accuracy" in stdout
    assert "Recommended:" in stdout or "No faster setting is shown as accurate as the best" in stdout
