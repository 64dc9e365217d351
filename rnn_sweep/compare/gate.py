"""What `compare --fail-if-worse X` fails on, each with its reason: a gate passes only what it could check.

It fails for every setting of A that B lacks, that is unfinished in B (a job folder without result.json), or that
ended not-ok in B (no run ok, or more runs not ok than in A); for every pair judged worse by more than X; and for
every pair where no test could be made (untested: missing predictions, different test images, too few runs on a
side), which `--allow-untested` turns into a warning. Each reason heads and writes its numbers as the
column table (record/columns.py) does, so they read as compare's own table above them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rnn_sweep.compare.verdicts import NO_VERDICT, Comparison
from rnn_sweep.record.columns import ACCURACY, label, show
from rnn_sweep.record.result_files import UNFINISHED

KINDS = ("missing in B", "unfinished in B", "not ok in B", "worse", "untested")
UNTESTED = "untested"


@dataclass(frozen=True)
class GateFailure:
    kind: str  # one of KINDS
    where: str  # the setting, as key=value pairs
    why: str


def gate_failures(comparison: Comparison, threshold: float) -> list[GateFailure]:
    """Every reason the gate fails, in table order."""
    failures = []
    table = comparison.table
    named = [key for key in comparison.keys if table[key].nunique() > 1] or comparison.keys[:1]
    for _, row in table.iterrows():
        where = " ".join(f"{key}={row[key]}" for key in named)
        reasons = _reasons(row, threshold, comparison.notes, comparison.keys)
        failures += [GateFailure(kind, where, why) for kind, why in reasons]
    return failures


def is_untested(row: pd.Series) -> bool:
    """A paired row with runs that ended ok on both sides but no test (no verdict can be trusted or given)."""
    return row["match"] == "both" and row["n_a"] > 0 and row["n_b"] > 0 and not row["test"]


def _all_keys(row: pd.Series, keys: list[str]) -> str:
    """The setting as significance's notes name it."""
    return " ".join(f"{key}={row[key]}" for key in keys)


def _reasons(row: pd.Series, threshold: float, notes: list[tuple[str, str]], keys: list[str]) -> list[tuple[str, str]]:
    if row["match"] == "only_b":
        return []
    if row["match"] == "only_a":
        return [("missing in B", f"A has {row['n_a']} run(s) ok ({row['status_a']}), B has no run of it")]
    status_b = str(row["status_b"])
    if UNFINISHED in status_b:
        return [("unfinished in B", f"B: {status_b} ({row['run_dir_b']})")]
    if row["n_a"] > 0 and (row["n_b"] == 0 or row["not_ok_b"] > row["not_ok_a"]):
        return [("not ok in B", f"A: {row['status_a']}; B: {status_b}")]
    drop = row[f"{ACCURACY}_a"] - row[f"{ACCURACY}_b"]
    if row["verdict"] == "worse" and drop > threshold:
        return [("worse", f"{_delta(row)} [{show('delta_ci_low', row['delta_ci_low'])}, "
                          f"{show('delta_ci_high', row['delta_ci_high'])}], {label('p_holm')} "
                          f"{show('p_holm', row['p_holm'])}, {label('test')} {row['test']}")]
    if is_untested(row):
        why = next((note.partition(": ")[2] for heading, note in notes if heading == NO_VERDICT
                    and note.startswith(f"{_all_keys(row, keys)}: ")), "no test could be made")
        return [(UNTESTED, f"{_delta(row)} untested: {why}")]
    return []


def _delta(row: pd.Series) -> str:
    """The accuracy difference B minus A, headed as compare's table heads it."""
    return f"{label('delta_accuracy')} {show('delta_accuracy', row['delta_accuracy'])}"
