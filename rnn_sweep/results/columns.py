"""The result vocabulary: file names, statuses, columns and how overrides map onto columns.

Every table, `compare`, `report` and resume read these names from here, so a new column or file is one edit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is not imported here: the CLI reads this module before its signal handlers are set
    import pandas as pd

# Files in a run folder.
RESULT_FILE = "result.json"
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.keras"
TENSORBOARD_DIR = "tensorboard"
HYDRA_DIR = ".hydra"  # Hydra's saved config, made in a job folder before the job starts
STEPS_FILE = "steps.csv"  # test accuracy every train.eval_every steps
PREDICTIONS_FILE = "test_predictions.npy"  # the predicted class of every test image, in test-set order
LABELS_FILE = "test_labels.npy"  # the true class of every test image, same order: what paired tests score against

# Files in a sweep folder.
RESULTS_CSV = "results.csv"
ACCURACY_CSV = "accuracy.csv"
TIMING_CSV = "timing.csv"
PRESETS_CSV = "presets.csv"
SUMMARY_CSV = "summary.csv"  # one row per setting, seeds folded (n, mean, sd, CI)
MULTIRUN_FILE = "multirun.yaml"  # Hydra's record of the sweep: its command line, its grid
REPORT_HTML = "report.html"  # one self-contained page: command, machine, tables, plots, links to the jobs

STATUSES = ("ok", "failed", "diverged", "interrupted", "pruned")
# Runs that ended as they should: `pruned` is a search's pruner stopping a hopeless trial early, not a failure.
ENDED_WELL = ("ok", "pruned")

# The settings every sweep of this tool can vary, each a column of its own; the seed last.
CONFIG_COLUMNS = ("cell", "units", "batch_size", "optimizer", "learning_rate", "epochs", "data", "seed")
# What tells two settings apart when runs are paired or folded over seeds.
SETTING_COLUMNS = CONFIG_COLUMNS[:-1]

# The columns DESIGN.md promises, in the order tables show them.
CONTRACT_COLUMNS = (
    "run_dir", "status", "error", *CONFIG_COLUMNS, "params", "test_accuracy", "test_loss",
    "best_val_accuracy", "train_seconds", "epoch_seconds", "first_epoch_seconds", "train_samples_per_second",
    "eval_samples_per_second", "device", "started_at", "config_hash",
)
# What else a user needs to trust or explain a number.
EXTRA_COLUMNS = (
    "epochs_completed", "train_samples", "val_samples", "test_samples", "eval_seconds", "finished_at",
    "data_source", "overrides", "threads", "tensorflow_version", "keras_version", "rnn_sweep_version",
    "preset", "reported_test_accuracy", "target_test_accuracy", "sequence", "steps",
    "steps_per_execution", "unroll", "project_inputs", "batch_shards", "precision", "setup_seconds", "first_step_at",
    "scheduler", "slurm_job_id", "node",  # where a SLURM job ran; empty outside SLURM
    "last_val_accuracy",
    # Timing noise: every epoch's wall and process CPU seconds, the spread of the steady ones, the load at start.
    "epoch_seconds_all", "epoch_cpu_seconds_all", "epoch_seconds_iqr", "load_average_1m",
    "test_set_hash",  # which test images (and labels, in order) the run was scored on: paired tests need the same
    "validation", "evaluations", "preset_measures",
)
# Columns that hold a list; results.csv keeps each as JSON.
LIST_COLUMNS = ("overrides", "epoch_seconds_all", "epoch_cpu_seconds_all")
# Columns added after records were first written, with the value every older record implies.
IMPLIED_BY_OLDER_RECORDS = {"data": "mnist"}
COLUMNS = CONTRACT_COLUMNS + EXTRA_COLUMNS
# Columns that hold numbers (or nothing): anything else there makes a record damaged.
NUMERIC_COLUMNS = (
    "units", "batch_size", "learning_rate", "epochs", "seed", "params", "test_accuracy", "test_loss",
    "best_val_accuracy", "train_seconds", "epoch_seconds", "first_epoch_seconds", "train_samples_per_second",
    "eval_samples_per_second", "epochs_completed", "last_val_accuracy",
)
ACCURACY = "test_accuracy"
# Timing columns compared as a B/A ratio.
RATIO_METRICS = ("epoch_seconds", "train_samples_per_second")

# summary.csv: per setting, seeds folded (n runs that ended ok), the mean accuracy with its 95% t-interval.
SUMMARY_COLUMNS = (
    "n", "n_not_ok", "test_accuracy_mean", "test_accuracy_sd", "test_accuracy_ci_low", "test_accuracy_ci_high",
    "epoch_seconds_median", "epoch_seconds_iqr", "train_samples_per_second_median",
)
# compare --csv: what the statistics add to each paired row.
COMPARE_STAT_COLUMNS = (
    "n_a", "n_b", "delta_accuracy", "delta_ci_low", "delta_ci_high", "p_value", "p_holm", "test", "verdict",
    "time_ratio", "time_ratio_ci_low", "time_ratio_ci_high", "time_verdict",
)
VERDICTS = ("better", "worse", "inconclusive")
TIME_VERDICTS = ("faster", "slower", "inconclusive")
TESTS = ("welch", "mcnemar")

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds")
# steps.csv: the test set after each evaluation step, beside what the preset's tutorial printed there.
STEPS_COLUMNS = ("step", "test_loss", "test_accuracy", "reported_test_accuracy")

# The overrides that set each config column, so a sweep over them is recognised as varying that column.
OVERRIDE_COLUMNS = {
    "model": "cell", "model.cell": "cell", "model.units": "units", "train.batch_size": "batch_size",
    "optimizer": "optimizer", "optimizer.name": "optimizer", "optimizer.learning_rate": "learning_rate",
    "train.epochs": "epochs", "seed": "seed", "data": "data", "data.name": "data",
}
# Overrides (and their prefixes) that say where or how a job runs, not what it trains: never a table dimension.
# The speed keys of config.schema.NON_IDENTITY_KEYS stay dimensions: a sweep over them is a speed comparison.
NOT_DIMENSIONS = ("hydra", "data.path", "sweep", "hparams_search", "train.threads", "train.save_model")


def parse_overrides(overrides: object) -> dict[str, str]:
    """Overrides back as {key: value}, as typed (`+`/`~` prefixes dropped); empty for a missing value.

    result.json keeps them as a list; results.csv as that list in JSON; older records as one space-joined string.
    """
    if isinstance(overrides, str):
        overrides = _listed(overrides)
    if not isinstance(overrides, Iterable):
        return {}
    pairs = (str(item).partition("=") for item in overrides)
    return {key.lstrip("+~"): value for key, sep, value in pairs if sep}


def overrides_text(overrides: object) -> str:
    """Overrides as one would type them, for tables and messages."""
    if isinstance(overrides, str):
        overrides = _listed(overrides)
    return " ".join(map(str, overrides)) if isinstance(overrides, Iterable) else ""


def overrides_as_json(overrides: object) -> str:
    """Overrides as a JSON list, the form results.csv keeps them in (a value may hold spaces)."""
    if isinstance(overrides, str):
        overrides = _listed(overrides)
    return json.dumps(list(map(str, overrides)) if isinstance(overrides, Iterable) else [])


def lists_as_json(frame: pd.DataFrame) -> pd.DataFrame:
    """Every list or tuple cell as JSON, so a CSV holds `["a", "b"]` that any reader parses, never a Python repr."""
    return frame.map(lambda value: json.dumps(list(value)) if isinstance(value, (list, tuple)) else value)


def parse_numbers(value: object) -> list[float]:
    """A list column back as numbers, whether a record holds the list or results.csv its JSON; [] for none."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    if not isinstance(value, (list, tuple)):
        return []
    return [float(item) for item in value if isinstance(item, (int, float))]


def _listed(text: str) -> list[str]:
    if text.startswith("["):
        try:
            return [str(item) for item in json.loads(text)]
        except (json.JSONDecodeError, TypeError):
            pass
    return text.split()
