"""compare's tests and verdicts on sweep folders written to disk (no training): which test each paired row gets,
why a row gets none, the files McNemar reads, and the time level over the rows that are timed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as statsmodels_mcnemar
from statsmodels.stats.proportion import proportion_confint

from rnn_sweep.compare.gate import gate_failures
from rnn_sweep.compare.pairing import load_results
from rnn_sweep.compare.verdicts import SIDE_COLUMNS, compare
from rnn_sweep.errors import UserError
from rnn_sweep.record.columns import COMPARE_STAT_COLUMNS

SETTING = {"cell": "gru", "batch_size": 64, "optimizer": "adam", "learning_rate": 0.001, "epochs": 3, "data": "mnist"}
LABELS = np.arange(200) % 10


def _run(folder: Path, units: int, seed: int = 0, accuracy: float = 0.8, epochs: list[float] | None = None,
         right: np.ndarray | None = None, test_set_hash: str | None = "same-images", **extra: object) -> dict:
    """One run's row of results.csv; with `right`, its job folder holds the predictions that score it."""
    run_dir = folder / f"units{units}-seed{seed}"
    row = {"run_dir": str(run_dir), "status": "ok", **SETTING, "units": units, "seed": seed,
           "test_accuracy": accuracy, "epoch_seconds_all": json.dumps(epochs or [1.5, 1.0, 1.0]),
           "test_set_hash": test_set_hash, "test_samples": len(LABELS), **extra}
    if right is not None:
        run_dir.mkdir(parents=True)
        np.save(run_dir / "test_labels.npy", LABELS)
        np.save(run_dir / "test_predictions.npy", np.where(right, LABELS, (LABELS + 1) % 10))
        row["test_accuracy"] = float(np.mean(right))
    return row


def _table(folder: Path, rows: list[dict]) -> pd.DataFrame:
    folder.mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return load_results(folder / "results.csv")


def _right(only_a: int, only_b: int, side: str) -> np.ndarray:
    """Which of the 200 images side `a` or `b` got right: the first 100 both did, the next `only_a` only A, the
    next `only_b` only B."""
    right = np.zeros(len(LABELS), dtype=bool)
    right[:100] = True
    right[100:100 + only_a] = side == "a"
    right[100 + only_a:100 + only_a + only_b] = side == "b"
    return right


def test_one_run_a_side_on_the_same_images_is_tested_by_mcnemar(tmp_path):
    # units 8: B gets 14 images right that A missed, A 2 that B missed; units 16: 5 against 4.
    a = _table(tmp_path / "a", [_run(tmp_path / "a", 8, right=_right(2, 14, "a")),
                                _run(tmp_path / "a", 16, right=_right(5, 4, "a"))])
    b = _table(tmp_path / "b", [_run(tmp_path / "b", 8, right=_right(2, 14, "b")),
                                _run(tmp_path / "b", 16, right=_right(5, 4, "b"))])
    table = compare(a, b).table.set_index("units").loc[["8", "16"]]
    assert table["test"].tolist() == ["mcnemar", "mcnemar"]
    assert table[["mcnemar_b", "mcnemar_c"]].values.tolist() == [[2, 14], [5, 4]]
    assert table["delta_accuracy"].tolist() == pytest.approx([12 / 200, -1 / 200])
    expected = [statsmodels_mcnemar([[100, b], [c, 100 - b - c]], exact=True).pvalue for b, c in ((2, 14), (5, 4))]
    assert table["p_value"].tolist() == pytest.approx(expected)
    assert table["p_holm"].tolist() == pytest.approx([min(1, 2 * min(expected)), max(expected)])
    assert table["verdict"].tolist() == ["better", "inconclusive"]
    assert table[["n_a", "n_b"]].values.tolist() == [[1, 1], [1, 1]]
    for units, (b, c) in (("8", (2, 14)), ("16", (5, 4))):
        low, high = proportion_confint(c, b + c, method="beta")  # Clopper–Pearson, scaled to (c - b) / N
        scale = (b + c) / 200
        assert (table.loc[units, "delta_ci_low"], table.loc[units, "delta_ci_high"]) == \
            pytest.approx((scale * (2 * low - 1), scale * (2 * high - 1)))


def where_of(units: int) -> str:
    return f"cell=gru units={units} batch_size=64 optimizer=adam learning_rate=0.001 epochs=3 data=mnist"


def test_rows_without_a_test_say_why_and_keep_their_delta(tmp_path):
    a_rows = [_run(tmp_path / "a", 8, right=_right(2, 14, "a")), _run(tmp_path / "a", 16, test_set_hash=None),
              _run(tmp_path / "a", 32, test_set_hash="images-1"), _run(tmp_path / "a", 64, accuracy=0.7),
              _run(tmp_path / "a", 128, test_set_hash="images-3", test_samples=None)]
    b_rows = [_run(tmp_path / "b", 8, right=_right(2, 14, "b"), test_set_hash="images-2"),
              _run(tmp_path / "b", 16, accuracy=0.9), _run(tmp_path / "b", 32, test_set_hash="images-1"),
              *(_run(tmp_path / "b", 64, seed=seed, accuracy=0.75) for seed in range(3)),
              _run(tmp_path / "b", 128, test_set_hash="images-4")]
    comparison = compare(_table(tmp_path / "a", a_rows), _table(tmp_path / "b", b_rows))
    table = comparison.table.set_index("units").loc[["8", "16", "32", "64", "128"]]
    assert table["test"].tolist() == [""] * 5 and table["verdict"].tolist() == [""] * 5
    assert table["delta_accuracy"].tolist() == pytest.approx([12 / 200, 0.1, 0.0, 0.05, 0.0])
    assert table["p_value"].isna().all() and table["delta_ci_low"].isna().all()
    assert table[["n_a", "n_b"]].values.tolist() == [[1, 1], [1, 1], [1, 1], [1, 3], [1, 1]]
    reasons = dict(comparison.notes)
    assert set(reasons) == {"no verdict"}
    texts = {text.split(" ")[1]: text for _, text in comparison.notes}  # by units=N
    assert len(texts) == len(comparison.notes) == 5
    assert texts["units=128"] == (f"{where_of(128)}: A and B were scored on different test images (an unrecorded "
                                  "number of and 200 images; data.limit_test draws its subset with the seed, and "
                                  "data settings may differ), so no McNemar test; delta only.")
    assert texts["units=8"] == (f"{where_of(8)}: A and B were scored on different test images (200 and 200 "
                                "images; data.limit_test draws its subset with the seed, and data settings may "
                                "differ), so no McNemar test; delta only.")
    assert texts["units=16"] == (f"{where_of(16)}: no test_set_hash recorded on both sides (a run made before "
                                 "rnn-sweep kept one), so no McNemar test; delta only.")
    missing = [str(tmp_path / side / "units32-seed0" / "test_predictions.npy") for side in "ab"]
    assert texts["units=32"] == f"{where_of(32)}: no {' or '.join(missing)} (a run made before rnn-sweep saved " \
                                "predictions, or a copy without them), so no McNemar test; delta only."
    assert texts["units=64"] == (f"{where_of(64)}: 1 run(s) in A, 3 in B: Welch's t-test needs two or more on "
                                 "each side (seeds=N), McNemar's one on each side; delta only.")


@pytest.mark.parametrize("damage, message", [
    (lambda folder: np.save(folder / "test_predictions.npy", LABELS[:150]),
     "test_predictions.npy holds 150 classes but the run was scored on 200 test images (test_samples in its "
     "result.json): the file was cut short or replaced. Train the run again (resume its sweep), or delete the file to "
     "compare that row by its accuracy delta alone."),
    (lambda folder: np.save(folder / "test_labels.npy", LABELS.reshape(20, 10)),
     "test_labels.npy holds 200 classes but the run was scored on 200 test images"),
    (lambda folder: np.save(folder / "test_predictions.npy", (LABELS + 1) % 10),
     "test_predictions.npy scores 0.0000 on its labels but the run's result records test_accuracy 0.5700: the files "
     "belong to another run, or were changed. Point compare at the sweep's own folder, or delete the file to compare "
     "that row by its accuracy delta alone."),
    (lambda folder: (folder / "test_labels.npy").write_bytes(b"not numpy"),
     "Cannot read {folder}/test_labels.npy as a NumPy array of classes"),
    (lambda folder: (folder / "test_labels.npy").write_bytes(b"not numpy"),
     "it was damaged or replaced. Train the run again, or delete the file to compare that row by its delta alone."),
])
def test_predictions_that_do_not_fit_the_run_are_one_clear_error(tmp_path, damage, message):
    a = _table(tmp_path / "a", [_run(tmp_path / "a", 8, right=_right(2, 14, "a"))])
    b = _table(tmp_path / "b", [_run(tmp_path / "b", 8, right=_right(2, 14, "b"))])
    folder = tmp_path / "b" / "units8-seed0"
    damage(folder)
    with pytest.raises(UserError) as error:
        compare(a, b)
    assert message.format(folder=folder) in str(error.value)
    assert str(folder) in str(error.value)


def test_predictions_and_accuracy_may_part_on_one_tie(tmp_path):
    right = _right(2, 14, "a")
    a = _table(tmp_path / "a", [_run(tmp_path / "a", 8, right=right)])
    b = _table(tmp_path / "b", [_run(tmp_path / "b", 8, right=_right(2, 14, "b"))])
    recorded = a.assign(test_accuracy=right.mean() + 1 / len(right))  # evaluate counted one more image right
    table = compare(recorded, b).table
    assert table["test"].tolist() == ["mcnemar"]
    assert table["delta_accuracy"].tolist() == pytest.approx([12 / 200])  # from the images, not the records
    assert table["test_accuracy_delta"].tolist() == pytest.approx([11 / 200])  # what the records say
    with pytest.raises(UserError, match="the files belong to another run"):
        compare(a.assign(test_accuracy=right.mean() + 2 / len(right)), b)


STEADY = [1.0, 1.02, 0.98, 1.01, 0.99, 1.03]
# Slower than STEADY by a margin that the 95% interval finds and the 97.5% one does not.
BORDERLINE = [x * 1.0325 for x in (1.0, 1.04, 0.97, 1.02, 0.99, 1.05)]


def _seeds(folder: Path, units: int, steady: list[float], per_run: int = 2) -> list[dict]:
    """Three seeds whose steady epochs are `steady`, `per_run` to a run (each run's first epoch left out)."""
    return [_run(folder, units, seed, 0.8 + seed / 100, [1.5, *steady[per_run * seed:per_run * (seed + 1)]])
            for seed in range(len(steady) // per_run)]


def test_the_time_level_counts_only_rows_with_two_steady_epochs_a_side(tmp_path):
    # units 8: the borderline slowdown. units 16: A has one steady epoch; units 32: B has one run of one epoch
    # (its first, which includes start-up). Neither is timed, so the level stays at 95% and 8 is `slower`.
    a = [*_seeds(tmp_path, 8, STEADY), _run(tmp_path, 16, epochs=[1.5, 1.0]), *_seeds(tmp_path, 32, STEADY),
         _run(tmp_path, 64, epochs=[1.1])]
    b = [*_seeds(tmp_path, 8, BORDERLINE), *_seeds(tmp_path, 16, STEADY), _run(tmp_path, 32, epochs=[1.2]),
         _run(tmp_path, 64, epochs=[1.3]),
         _run(tmp_path, 128)]  # only in B
    comparison = compare(_table(tmp_path / "a", a), _table(tmp_path / "b", b))
    table = comparison.table.set_index("units")
    assert table.loc[["8", "16", "32"], "time_verdict"].tolist() == ["slower", "", ""]
    assert table.loc["32", "time_ratio"] == pytest.approx(1.2 / np.median(STEADY))  # one epoch, with a note
    assert table.loc["128", "match"] == "only_b" and table.loc["128", "time_verdict"] == ""
    assert ("time", "cell=gru units=32 batch_size=64 optimizer=adam learning_rate=0.001 epochs=3 data=mnist: B has "
            "runs of one epoch, whose time includes start-up (tracing); the ratio is then not a steady-state one "
            "(train 2+ epochs).") in comparison.notes
    assert [text.split(": ")[1] for heading, text in comparison.notes if heading == "time"] == [
        "B has runs of one epoch, whose time includes start-up (tracing); the ratio is then not a steady-state one "
        "(train 2+ epochs).", "A and B has runs of one epoch, whose time includes start-up (tracing); the ratio is "
        "then not a steady-state one (train 2+ epochs)."]
    # A second timed row, of two steady epochs a side: the level becomes 1 - 0.05/2 and 8 is inconclusive.
    a2 = [*_seeds(tmp_path / "a2", 8, STEADY), *_seeds(tmp_path / "a2", 16, STEADY[:2], per_run=1)]
    b2 = [*_seeds(tmp_path / "b2", 8, BORDERLINE), *_seeds(tmp_path / "b2", 16, STEADY[:2], per_run=1)]
    table = compare(_table(tmp_path / "a2", a2), _table(tmp_path / "b2", b2)).table.set_index("units")
    assert table.loc["8", "time_ratio_ci_low"] > 1
    assert table.loc[["8", "16"], "time_verdict"].tolist() == ["inconclusive", "inconclusive"]


def test_the_gate_the_unpaired_rows_and_the_csv_columns(tmp_path):
    a = [*_seeds(tmp_path, 8, STEADY), *_seeds(tmp_path, 16, STEADY), _run(tmp_path, 32), _run(tmp_path, 64)]
    b = [*(_run(tmp_path, 8, seed, accuracy) for seed, accuracy in enumerate((0.70, 0.71, 0.72))),
         *(_run(tmp_path, 16, seed, 0.8 + seed / 100 - 0.001) for seed in range(3)),
         _run(tmp_path, 32, status="failed", accuracy=None), _run(tmp_path, 128)]
    comparison = compare(_table(tmp_path / "a", a), _table(tmp_path / "b", b), on=["cell", "units"])
    assert comparison.keys == ["cell", "units"] and comparison.alpha == 0.05
    table = comparison.table.set_index("units")
    assert table.loc["8", "verdict"] == "worse" and table.loc["16", "verdict"] == "inconclusive"
    assert table.loc["32", ["n_a", "n_b", "not_ok_a", "not_ok_b"]].tolist() == [1, 0, 0, 1]
    assert table.loc["128", ["n_a", "n_b", "not_ok_a", "not_ok_b"]].tolist() == [0, 1, 0, 0]  # only in B
    assert table["not_ok_a"].dtype.kind == "i"  # counts, shown as 1, not 1.0
    lost = {"units=32": "not ok in B", "units=64": "missing in B"}  # lost its only run; never ran in B
    assert _gate(comparison, 0.05) == {**lost, "units=8": "worse"}  # dropped 0.1
    assert _gate(comparison, 0.2) == lost
    assert comparison.only("a")["units"].tolist() == ["64"] and comparison.only("b")["units"].tolist() == ["128"]
    assert comparison.csv_frame().columns.tolist() == ["cell", "units", *SIDE_COLUMNS, *COMPARE_STAT_COLUMNS]
    assert "index" not in comparison.table.columns


def test_two_seeds_a_side_are_enough_for_welch_and_one_is_not(tmp_path):
    a = [*_seeds(tmp_path, 8, STEADY[:4]), *_seeds(tmp_path, 16, STEADY[:4]), *_seeds(tmp_path, 32, STEADY[:2])]
    b = [*(_run(tmp_path, 8, seed, accuracy) for seed, accuracy in enumerate((0.7, 0.72))),
         _run(tmp_path, 16, accuracy=0.7), *(_run(tmp_path, 32, seed, 0.7) for seed in range(2))]
    comparison = compare(_table(tmp_path / "a", a), _table(tmp_path / "b", b))
    table = comparison.table.set_index("units").loc[["8", "16", "32"]]
    assert table["test"].tolist() == ["welch", "", ""]
    expected = stats.ttest_ind([0.7, 0.72], [0.8, 0.81], equal_var=False)
    assert table.loc["8", "p_value"] == pytest.approx(expected.pvalue)
    assert (table.loc["8", "delta_ci_low"], table.loc["8", "delta_ci_high"]) == \
        pytest.approx(tuple(expected.confidence_interval()))
    assert [text.split(": ")[1] for _, text in comparison.notes] == ["2 run(s) in A, 1 in B", "1 run(s) in A, 2 in B"]


def test_worse_means_a_drop_of_more_than_the_threshold(tmp_path):
    # Means 0.75 and 0.5 exactly (binary fractions): a drop of exactly 0.25 is not more than 0.25. Units 16: A's one
    # run failed and B's two did: B lost no result A had, so the gate does not count it.
    a = [*(_run(tmp_path, 8, seed, x) for seed, x in enumerate((0.75, 0.8125, 0.6875))),
         _run(tmp_path, 16, status="failed", accuracy=None)]
    b = [*(_run(tmp_path, 8, seed, x) for seed, x in enumerate((0.5, 0.5625, 0.4375))),
         *(_run(tmp_path, 16, seed, status="failed", accuracy=None) for seed in range(2))]
    comparison = compare(_table(tmp_path / "a", a), _table(tmp_path / "b", b))
    assert comparison.table.set_index("units").loc["8", "verdict"] == "worse"
    assert _gate(comparison, 0.2499) == {"units=8": "worse"}
    assert _gate(comparison, 0.25) == {}


def _gate(comparison, threshold: float) -> dict[str, str]:
    """What `--fail-if-worse threshold` fails on: the setting and the kind of failure."""
    return {failure.where: failure.kind for failure in gate_failures(comparison, threshold)}
