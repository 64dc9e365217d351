"""What compare says about each paired setting: which test applies, what it finds, and the verdicts.

- Two or more runs (seeds) on each side: Welch's t-test on their test accuracies.
- One run on each side, scored on the same test images: the exact McNemar test on the images each got right.
- Otherwise (one side has one run and the other several, or the test images differ): the delta, no verdict.
The p-values of all rows are Holm-corrected together, so `better`/`worse` anywhere in a comparison is a false
alarm with probability at most alpha. Epoch time: the B/A ratio of median steady epochs, with a bootstrap interval;
its verdict uses the interval at 1 - alpha/m for m timed rows (Bonferroni).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnn_sweep.compare.pairing import RUN_FOLDER, pair
from rnn_sweep.errors import UserError
from rnn_sweep.record.columns import (
    ACCURACY,
    COMPARE_STAT_COLUMNS,
    LABELS_FILE,
    PREDICTIONS_FILE,
    RATIO_METRICS,
)
from rnn_sweep.stats.intervals import Difference, holm, mcnemar, median_ratio, time_verdict, verdict, welch

ALPHA = 0.05
NO_VERDICT = "no verdict"
# The columns of compare --csv before the statistics: the settings, then these.
SIDE_COLUMNS = (
    "match", f"{ACCURACY}_a", f"{ACCURACY}_b", f"{ACCURACY}_delta", "test_loss_a", "test_loss_b",
    *(f"{metric}_{suffix}" for metric in RATIO_METRICS for suffix in ("a", "b", "ratio")),
    "status_a", "status_b", "run_dir_a", "run_dir_b",
)


@dataclass(frozen=True)
class Comparison:
    """One row per setting found in A, in B or in both (`match`), with the tests' results for paired rows.

    `notes` are (heading, text) per row: why a paired row got no verdict, or why its time ratio needs care.
    """

    table: pd.DataFrame
    keys: list[str]
    alpha: float
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def matched(self) -> pd.DataFrame:
        return self.table[self.table["match"] == "both"]

    def only(self, side: str) -> pd.DataFrame:
        return self.table[self.table["match"] == f"only_{side}"]

    def csv_frame(self) -> pd.DataFrame:
        return self.table[[*self.keys, *SIDE_COLUMNS, *COMPARE_STAT_COLUMNS]]


def compare(a: pd.DataFrame, b: pd.DataFrame, on: list[str] | None = None, alpha: float = ALPHA) -> Comparison:
    """Pair A and B (seeds folded unless `on` names seed), then test every paired row."""
    table, keys = pair(a, b, on)
    table = table.reset_index(drop=True)
    notes: list[tuple[str, str]] = []
    tested = [_accuracy_test(row, keys, notes) if row["match"] == "both" else None for _, row in table.iterrows()]
    notes += _one_epoch_notes(table[table["match"] == "both"], keys)
    for side in "ab":
        table[f"n_{side}"] = table[f"runs_{side}"].map(lambda runs: len(runs) if isinstance(runs, list) else 0)
        table[f"not_ok_{side}"] = table[f"not_ok_{side}"].fillna(0).astype(int)
    table["delta_accuracy"] = [t.delta if t else d for t, d in zip(tested, table[f"{ACCURACY}_delta"], strict=True)]
    table["delta_ci_low"] = [t.low if t else math.nan for t in tested]
    table["delta_ci_high"] = [t.high if t else math.nan for t in tested]
    table["p_value"] = [t.p_value if t else math.nan for t in tested]
    table["test"] = [t.test if t else "" for t in tested]
    table["mcnemar_b"] = [t.b if t else None for t in tested]
    table["mcnemar_c"] = [t.c if t else None for t in tested]
    table["p_holm"] = holm(table["p_value"].tolist())
    table["verdict"] = [verdict(d, p, alpha) for d, p in zip(table["delta_accuracy"], table["p_holm"], strict=True)]
    _add_timing(table, alpha)
    return Comparison(table, keys, alpha, notes)


def _accuracy_test(row: pd.Series, keys: list[str], notes: list[tuple[str, str]]) -> Difference | None:
    """Welch for seeds on both sides, McNemar for one run each on the same images, else None (with a note)."""
    runs_a, runs_b = row["runs_a"], row["runs_b"]
    if not runs_a or not runs_b:
        return None  # a side with no run that ended ok: its status says why
    where = " ".join(f"{key}={row[key]}" for key in keys)
    if len(runs_a) >= 2 and len(runs_b) >= 2:
        return welch([run[ACCURACY] for run in runs_a], [run[ACCURACY] for run in runs_b])
    if len(runs_a) > 1 or len(runs_b) > 1:
        notes.append((NO_VERDICT, f"{where}: {len(runs_a)} run(s) in A, {len(runs_b)} in B: Welch's t-test needs two "
                                  "or more on each side (seeds=N), McNemar's one on each side; delta only."))
        return None
    reason = _why_not_paired(runs_a[0], runs_b[0])
    if reason:
        notes.append((NO_VERDICT, f"{where}: {reason}; delta only."))
        return None
    return mcnemar(*(_correct(run) for run in (runs_a[0], runs_b[0])))


def _why_not_paired(run_a: dict[str, Any], run_b: dict[str, Any]) -> str | None:
    """Why two runs cannot be compared image by image, or None when they can."""
    hashes = [run.get("test_set_hash") for run in (run_a, run_b)]
    if any(not isinstance(value, str) for value in hashes):
        return "no test_set_hash recorded on both sides (a run made before rnn-sweep kept one), so no McNemar test"
    if hashes[0] != hashes[1]:
        sizes = " and ".join(_count(_int(run.get("test_samples"))) for run in (run_a, run_b))
        return (f"A and B were scored on different test images ({sizes} images; data.limit_test draws its subset "
                "with the seed, and data settings may differ), so no McNemar test")
    missing = [str(Path(str(run[RUN_FOLDER])) / PREDICTIONS_FILE) for run in (run_a, run_b) if not _has_files(run)]
    if missing:
        return (f"no {' or '.join(missing)} (a run made before rnn-sweep saved predictions, or a copy without "
                "them), so no McNemar test")
    return None


def _has_files(run: dict[str, Any]) -> bool:
    folder = run.get(RUN_FOLDER)
    return isinstance(folder, str) and all((Path(folder) / name).is_file() for name in (PREDICTIONS_FILE, LABELS_FILE))


def _correct(run: dict[str, Any]) -> np.ndarray:
    """Which test images the run got right; UserError for a predictions file that does not fit the run."""
    folder = Path(str(run[RUN_FOLDER]))
    predictions, labels = (_classes(folder / name) for name in (PREDICTIONS_FILE, LABELS_FILE))
    expected = _int(run.get("test_samples"))
    for path, values in ((folder / PREDICTIONS_FILE, predictions), (folder / LABELS_FILE, labels)):
        if values.ndim != 1 or len(values) != (expected or len(labels)):
            raise UserError(
                f"{path} holds {values.size} classes but the run was scored on {expected or len(labels)} test images "
                f"(test_samples in its result.json): the file was cut short or replaced. Train the run again (resume "
                "its sweep), or delete the file to compare that row by its accuracy delta alone."
            )
    right = predictions == labels
    recorded = pd.to_numeric(run.get(ACCURACY), errors="coerce")
    if abs(right.mean() - recorded) > 1.5 / len(right):  # evaluate and predict may part on a tie, never more
        raise UserError(
            f"{folder / PREDICTIONS_FILE} scores {right.mean():.4f} on its labels but the run's result records "
            f"{ACCURACY} {recorded:.4f}: the files belong to another run, or were changed. Point compare at the "
            "sweep's own folder, or delete the file to compare that row by its accuracy delta alone."
        )
    return right


def _classes(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise UserError(f"Cannot read {path} as a NumPy array of classes ({error}): it was damaged or replaced. "
                        "Train the run again, or delete the file to compare that row by its delta alone.") from None


def _count(number: int | None) -> str:
    return "an unrecorded number of" if number is None else str(number)


def _int(value: Any) -> int | None:
    number = pd.to_numeric(value, errors="coerce")
    return None if pd.isna(number) else int(number)


def _one_epoch_notes(rows: pd.DataFrame, keys: list[str]) -> list[tuple[str, str]]:
    """A run of one epoch has no epoch after the first: its time includes start-up (tracing), unlike the others'."""
    notes = []
    for _, row in rows.iterrows():
        sides = [side.upper() for side in "ab" if row[f"first_epoch_only_{side}"] is True]
        if sides:
            where = " ".join(f"{key}={row[key]}" for key in keys)
            notes.append(("time", f"{where}: {' and '.join(sides)} has runs of one epoch, whose time includes "
                                  "start-up (tracing); the ratio is then not a steady-state one (train 2+ epochs)."))
    return notes


def _add_timing(table: pd.DataFrame, alpha: float) -> None:
    """time_ratio with its 95% interval per paired row; time_verdict from the interval at 1 - alpha/m."""
    paired = table["match"] == "both"
    epochs = [(a, b) if ok else ([], []) for a, b, ok in zip(table["epochs_a"], table["epochs_b"], paired, strict=True)]
    epochs = [(a if isinstance(a, list) else [], b if isinstance(b, list) else []) for a, b in epochs]
    timed = sum(1 for a, b in epochs if len(a) > 1 and len(b) > 1)
    ratios = [median_ratio(a, b) for a, b in epochs]
    table["time_ratio"] = [ratio.ratio for ratio in ratios]
    table["time_ratio_ci_low"] = [ratio.low for ratio in ratios]
    table["time_ratio_ci_high"] = [ratio.high for ratio in ratios]
    level = 1 - alpha / max(timed, 1)
    table["time_verdict"] = [time_verdict(median_ratio(a, b, level)) for a, b in epochs]
