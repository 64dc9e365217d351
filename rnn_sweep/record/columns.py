"""The result vocabulary: file names, statuses, columns (with their labels and number formats) and how overrides
map onto columns.

Every table, `compare`, `report`, resume, the pages, the terminal and TensorBoard read these names, labels and
formats from here, so a new column or file is one edit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rnn_sweep.config.overrides import overrides_text, parse_overrides
from rnn_sweep.errors import UserError

if TYPE_CHECKING:  # pandas is imported where a table is read: the CLI imports this module before its signal handlers
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
RACE_CSV = "race.csv"  # a race sweeper's rounds: each setting's interval and state (rnn_sweep.sweep.race)
SUMMARY_CSV = "summary.csv"  # one row per setting, seeds folded (n, mean, sd, CI)
EFFECTS_CSV = "effects.csv"  # what matters: per swept factor its level means, p-value and share of the variance
MULTIRUN_FILE = "multirun.yaml"  # Hydra's record of the sweep: its command line, its grid
PARETO_CSV = "optuna_pareto.csv"  # a search of several objectives: its Pareto front, with each trial's command line
SWEEP_TIMING_FILE = "sweep_timing.json"  # the sweep's own seconds: command start to its first job, and its end
REPORT_HTML = "report.html"  # one self-contained page: command, machine, tables, plots, links to the jobs
# A search's sweep folder also holds Optuna's table of its trials and hydra-optuna-sweeper's best trial (which
# scripts read). A trial's user attributes, columns `user_attrs_<name>` of optuna.csv: its job folder's number and
# its job's overrides.
OPTUNA_CSV = "optuna.csv"
OPTUNA_IMPORTANCES = "optuna_importances.png"  # Optuna's importance evaluator's plot: what matters in a search
RESULTS_YAML = "optimization_results.yaml"
TRIAL_JOB, TRIAL_OVERRIDES = "job", "overrides"

STATUSES = ("ok", "failed", "diverged", "interrupted", "pruned")
# Runs that ended as they should: `pruned` is a search's pruner stopping a hopeless trial early, not a failure.
ENDED_WELL = ("ok", "pruned")

@dataclass(frozen=True)
class Column:
    """One column of the record: what it holds, what it is for, and how people see it.

    kind: `text`, `int`, `float`, `bool` or `list` (a JSON list in CSV files). role: `setting` (what is trained,
    part of the identity), `seed`, `outcome` (how the run ended), `metric`, `timing`, `provenance` (where, when,
    with what) or `statistic` (what compare and the effects table compute). `label` heads it in every table and
    page; `fmt` writes a value there. `views`: where it is shown beyond the CSV files (VIEWS). `key`: the config
    key a setting or the seed is read from (and set by on the command line); empty for what a run measures. `of`:
    the column a statistic is about, whose label fills the `{}` in this one's (`column` fills it), so relabelling
    that column relabels its statistics too.
    """

    name: str
    kind: str
    role: str
    label: str = ""
    fmt: str = "{}"
    views: tuple[str, ...] = ()
    key: str = ""
    of: str = ""

    def show(self, value: object) -> str:
        """The value as tables and pages show it: `-` for nothing."""
        if _missing(value):
            return "-"
        if self.kind == "list":  # a list, or the JSON a CSV file holds: its items as one would type them
            return overrides_text(value) or "-"
        return self.fmt.format(value)


def _missing(value: object) -> bool:
    """None, NaN, or pandas' NA and NaT. pandas is asked only where it is loaded already: a run prints its box
    without it, even when an address-space limit leaves no room to load it."""
    if value is None or isinstance(value, (list, tuple, str)):
        return value is None
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        return bool(pandas.isna(value))
    return value != value  # NaN is the one value unequal to itself


KINDS = ("text", "int", "float", "bool", "list")
ROLES = ("setting", "seed", "outcome", "metric", "timing", "provenance", "statistic")
# Where a column is shown, each in the order of the declarations below: `run`, a run's summary on the terminal (the
# run folder last); `jobs`, report.html's table of every job, after the settings that vary; `machine`, the page's
# list of where the jobs ran; `hparams`, TensorBoard's HParams metrics.
VIEWS = ("run", "jobs", "machine", "hparams")


def _c(name: str, kind: str, role: str, label: str = "", fmt: str = "{}", views: tuple[str, ...] = (),
       key: str = "", of: str = "") -> Column:
    return Column(name, kind, role, label or name.replace("_", " "), fmt, views, key, of)


ACCURACY = "test_accuracy"  # what compare tests and its gate judges


# Every column of result.json and results.csv, declared once, in the order tables show them. The first block is
# what DESIGN.md promises; the rest is what a user needs to trust or explain a number.
RECORD = (
    _c("run_dir", "text", "provenance", "run folder", views=("run",)),
    _c("status", "text", "outcome", views=("run",)),
    _c("error", "text", "outcome", views=("run",)),
    _c("cell", "text", "setting", views=("run",), key="model.cell"),
    _c("units", "int", "setting", views=("run",), key="model.units"),
    _c("batch_size", "int", "setting", "batch size", views=("run",), key="train.batch_size"),
    _c("optimizer", "text", "setting", views=("run",), key="optimizer.name"),
    # Every digit it was given, so two rates that differ in the 5th decimal never print alike.
    _c("learning_rate", "float", "setting", "learning rate", views=("run",), key="optimizer.learning_rate"),
    _c("epochs", "int", "setting", key="train.epochs"),
    _c("data", "text", "setting", views=("run",), key="data.name"),
    _c("seed", "int", "seed", key="seed"),
    _c("params", "int", "metric", "parameters", "{:,}", views=("run",)),
    _c("test_accuracy", "float", "metric", "test accuracy", "{:.4f}", views=("run", "jobs", "hparams")),
    _c("test_loss", "float", "metric", "test loss", "{:.4f}", views=("run",)),
    _c("best_val_accuracy", "float", "metric", "best val accuracy", "{:.4f}", views=("run", "jobs", "hparams")),
    _c("train_seconds", "float", "timing", "train s", "{:.2f}s", views=("run", "jobs")),
    # The median over the epochs after the first (which includes tracing).
    _c("epoch_seconds", "float", "timing", "epoch s (median)", "{:.2f}s", views=("run", "jobs", "hparams")),
    _c("first_epoch_seconds", "float", "timing", "first epoch s", "{:.2f}s", views=("run", "jobs")),
    _c("train_samples_per_second", "float", "timing", "train samples/s", "{:,.0f}/s", views=("run", "jobs")),
    _c("eval_samples_per_second", "float", "timing", "eval samples/s", "{:,.0f}/s", views=("run",)),
    _c("device", "text", "provenance", views=("run", "machine")),
    _c("started_at", "text", "provenance", "started"),
    _c("config_hash", "text", "provenance", "identity"),
    # Beyond the contract.
    _c("epochs_completed", "int", "outcome", "epochs done", views=("run", "jobs")),
    _c("train_samples", "int", "provenance", "train images", views=("run",)),
    _c("val_samples", "int", "provenance", "validation images"),
    _c("test_samples", "int", "provenance", "test images"),
    _c("eval_seconds", "float", "timing", "eval s", "{:.2f}s"),
    _c("finished_at", "text", "provenance", "finished"),
    _c("data_source", "text", "provenance", "data source", views=("machine",)),
    _c("overrides", "list", "provenance"),
    _c("threads", "int", "provenance", views=("machine",)),
    _c("tensorflow_version", "text", "provenance", "TensorFlow", views=("machine",)),
    _c("keras_version", "text", "provenance", "Keras", views=("machine",)),
    _c("rnn_sweep_version", "text", "provenance", "rnn-sweep", views=("machine",)),
    _c("preset", "text", "provenance", views=("run",)),
    _c("reported_test_accuracy", "float", "metric", "reported test accuracy", "{:.4f}", views=("run",)),
    _c("target_test_accuracy", "float", "metric", "target test accuracy", "{:.4f}"),
    _c("sequence", "text", "provenance"),
    _c("steps", "int", "provenance"),
    _c("steps_per_execution", "int", "provenance"),
    _c("unroll", "bool", "provenance"),
    _c("project_inputs", "bool", "provenance"),
    _c("batch_shards", "int", "provenance"),
    _c("precision", "text", "provenance"),
    _c("setup_seconds", "float", "timing", "setup s", "{:.2f}s"),
    _c("first_step_at", "text", "provenance"),
    _c("scheduler", "text", "provenance"),  # where a SLURM job ran; empty outside SLURM
    _c("slurm_job_id", "text", "provenance"),
    _c("node", "text", "provenance"),
    _c("last_val_accuracy", "float", "metric", "last val accuracy", "{:.4f}"),
    # Timing noise: every epoch's wall and process CPU seconds, the spread of the steady ones, the load at start.
    _c("epoch_seconds_all", "list", "timing"),
    _c("epoch_cpu_seconds_all", "list", "timing"),
    _c("epoch_seconds_iqr", "float", "timing", "epoch s IQR", "{:.2f}s", views=("jobs",)),
    _c("load_average_1m", "float", "provenance"),
    _c("test_set_hash", "text", "provenance"),  # which test images (and labels, in order) the run was scored on
    _c("validation", "text", "provenance", views=("run",)),
    _c("evaluations", "int", "provenance", "test evaluations", views=("run",)),
    _c("preset_measures", "text", "provenance"),
    # Where a job's time went besides training (setup_seconds and eval_seconds above): the first epoch's extra
    # over a steady one (tracing), and the predictions and model file written after the evaluation.
    _c("trace_seconds", "float", "timing", "trace s", "{:.2f}s"),
    _c("wrap_up_seconds", "float", "timing", "wrap-up s", "{:.2f}s"),
    # Step functions (train, evaluate, predict) the job traced: 0 where it reused an earlier job's compiled model.
    _c("traces", "int", "timing"),
)
# race.csv: beside the columns of the settings that differ, each round's seeds so far (n runs ok), mean, repeated
# interval (docs/statistics.md).
RACE_FILE_COLUMNS = ("round", "n", "mean", "ci_low", "ci_high", "state")
# summary.csv: per setting (the setting columns above first), seeds folded over the runs that count. The folded
# columns are DERIVED (below) from the record's, so they take its label and format.
SUMMARY_COLUMNS = ("n", "n_not_ok", "test_accuracy_mean", "test_accuracy_sd", "test_accuracy_ci_low",
                   "test_accuracy_ci_high", "epoch_seconds_median", "epoch_seconds_iqr",
                   "train_samples_per_second_median")
# What compare and the effects table compute, where no record column gives it a label.
STATISTICS = (
    _c("n", "int", "statistic", "n"),
    _c("n_not_ok", "int", "outcome", "not ok"),
    _c("delta_accuracy", "float", "statistic", "Δ {}", "{:+.4f}", of=ACCURACY),
    _c("delta_ci_low", "float", "statistic", "Δ 95% CI low", "{:+.4f}"),
    _c("delta_ci_high", "float", "statistic", "Δ 95% CI high", "{:+.4f}"),
    _c("p_value", "float", "statistic", "p", "{:.3g}"),
    _c("p_holm", "float", "statistic", "Holm-adjusted p", "{:.3g}"),
    _c("test", "text", "statistic"),
    _c("verdict", "text", "statistic"),
    _c("time_ratio", "float", "statistic", "epoch s B/A", "{:.2f}x"),
    _c("time_verdict", "text", "statistic", "time verdict"),
    _c("factor", "text", "statistic"),
    _c("level", "text", "statistic"),
    _c("share", "float", "statistic", "share (partial η²)", "{:.3f}"),
)
# history.csv, a row per epoch, as Keras logs it: declared for the plots that draw it. Its last column, each epoch's
# own seconds, takes the name of the record's epoch_seconds above (their median), so it has no entry of its own.
HISTORY = (
    _c("epoch", "int", "provenance"),  # which epoch, from 1
    _c("loss", "float", "metric", "training loss", "{:.4f}"),
    _c("accuracy", "float", "metric", "training accuracy", "{:.4f}"),
    _c("val_loss", "float", "metric", "validation loss", "{:.4f}"),
    _c("val_accuracy", "float", "metric", "validation accuracy", "{:.4f}"),
)
HISTORY_COLUMNS = (*(column.name for column in HISTORY), "epoch_seconds")
DECLARED = {column.name: column for column in (*RECORD, *STATISTICS, *HISTORY)}


@dataclass(frozen=True)
class Derived:
    """A column named `<declared column>_<ending>`: a fold over seeds, a side of compare, a B/A ratio. It takes the
    declared column's label (through `label`) and format (unless `fmt` is given), so a new metric is one entry."""

    label: str
    fmt: str | None = None
    kind: str | None = "float"  # None: the declared column's kind

    def of(self, base: Column, name: str) -> Column:
        return Column(name, self.kind or base.kind, base.role, self.label.format(base.label), self.fmt or base.fmt)


DERIVED = {
    "mean": Derived("{}"), "median": Derived("{}"), "sd": Derived("{} sd"), "iqr": Derived("{} IQR"),
    "ci_low": Derived("{} 95% CI low"), "ci_high": Derived("{} 95% CI high"),
    "a": Derived("{} A", kind=None), "b": Derived("{} B", kind=None), "ratio": Derived("{} B/A", "{:.2f}x"),
}


def column(name: str) -> Column | None:
    """The column `name`, declared above or derived from a declared one (DERIVED); None for any other name (a swept
    key without a column of its own, such as model.dropout). Every table, page and TensorBoard view asks here."""
    if name in DECLARED:
        found = DECLARED[name]
        return replace(found, label=found.label.format(label(found.of))) if found.of else found
    for ending, derived in DERIVED.items():
        base = name.removesuffix(f"_{ending}")
        if base != name and base in DECLARED:
            return derived.of(DECLARED[base], name)
    return None


def label(name: str) -> str:
    """The heading of column `name` in tables and pages; the name itself for one not declared."""
    found = column(name)
    return found.label if found else name


def show(name: str, value: object) -> str:
    """A value of column `name` as tables and pages write it (`-` for nothing); as text where it has no column."""
    found = column(name)
    if found:
        return found.show(value)
    return "-" if _missing(value) else str(value)


def setting_text(row: Mapping[str, object], keys: Iterable[str]) -> str:
    """A setting as one types it, `cell=gru units=32`, each value as its column shows it (`all`: no key varies)."""
    return " ".join(f"{key}={show(key, row[key])}" for key in keys) or "all"


def shown_in(view: str) -> list[Column]:
    """The columns a view (one of VIEWS) shows, in their declared order."""
    return [column(name) for name, found in DECLARED.items() if view in found.views]


COLUMNS = tuple(column.name for column in RECORD)
CONTRACT_COLUMNS = COLUMNS[: COLUMNS.index("config_hash") + 1]
EXTRA_COLUMNS = COLUMNS[len(CONTRACT_COLUMNS):]
# What is trained (the settings) and the seed: the record's identity, config_hash, hashes these and nothing else.
CONFIG_COLUMNS = tuple(column.name for column in RECORD if column.role in ("setting", "seed"))
# What tells two settings apart when runs are paired or folded over seeds.
SETTING_COLUMNS = tuple(column.name for column in RECORD if column.role == "setting")
# Columns that hold a list; results.csv keeps each as JSON.
LIST_COLUMNS = tuple(column.name for column in RECORD if column.kind == "list")
# Columns that hold numbers (or nothing): anything else there makes a record damaged.
NUMERIC_COLUMNS = tuple(column.name for column in RECORD if column.kind in ("int", "float"))
# Columns added after records were first written, with the value every older record implies.
IMPLIED_BY_OLDER_RECORDS = {"data": "mnist"}

# Timing columns compared as a B/A ratio.
RATIO_METRICS = ("epoch_seconds", "train_samples_per_second")

# compare --csv: what the statistics add to each paired row.
COMPARE_STAT_COLUMNS = (
    "n_a", "n_b", "delta_accuracy", "delta_ci_low", "delta_ci_high", "p_value", "p_holm", "test", "verdict",
    "time_ratio", "time_ratio_ci_low", "time_ratio_ci_high", "time_verdict",
)
VERDICTS = ("better", "worse", "inconclusive")
TIME_VERDICTS = ("faster", "slower", "inconclusive")
TESTS = ("welch", "mcnemar")

# steps.csv: the test set after each evaluation step, beside what the preset's tutorial printed there.
STEPS_COLUMNS = ("step", "test_loss", "test_accuracy", "reported_test_accuracy")

# The overrides that set each config column (its key, or the config group that picks it), so a sweep over them is
# recognised as varying that column.
OVERRIDE_COLUMNS = {"model": "cell", "optimizer": "optimizer", "data": "data",
                    **{column.key: column.name for column in RECORD if column.key}}
# Overrides (and their prefixes) that choose a sweep or search rather than set what a job trains. With
# config.schema.NON_IDENTITY_KEYS (where or how a job runs) they are never a setting of their own.
NOT_SETTINGS = ("hydra", "sweep", "hparams_search")
# Of the keys left out of the identity, the speed levers: a sweep over one is a speed comparison, so a sweep's
# tables show it as a dimension; runs that differ only in them still pair in compare.
SPEED_LEVERS = ("train.steps_per_execution", "model.batch_shards")


class ColumnValueError(UserError):
    """A table cell that does not hold its column's declared kind: a damaged or foreign file, never coerced."""

    def __init__(self, where: object, column: Column, value: object, run_dir: object, holds: str | None = None) -> None:
        holds = holds or {"int": "a whole number", "float": "a number", "bool": "True or False"}[column.kind]
        super().__init__(
            f"{where} has {column.name}={value!r} (row of run_dir {run_dir}), which is not {holds}; "
            f"{column.name} holds {holds} or nothing. The file was changed by something other than "
            "rnn-sweep: rebuild the table with `rnn-sweep report` on its sweep folder, or fix that cell."
        )


def read_table(path: Path) -> pd.DataFrame:
    """A results.csv or summary.csv read back with the declared kinds: text stays text (`run_dir` 0 is the folder
    "0", not a number), whole numbers stay whole even with gaps (pandas' Int64); ColumnValueError for a bad cell."""
    import pandas as pd

    header = pd.read_csv(path, nrows=0).columns
    frame = pd.read_csv(path, dtype={name: str for name in header if column(name) is not None})
    return typed(frame, path)


def typed(frame: pd.DataFrame, where: object = "the table") -> pd.DataFrame:
    """`frame` with every declared column in its declared kind (text, Int64, float, boolean; lists as JSON text)."""
    import pandas as pd

    frame = frame.copy()
    run_dirs = frame["run_dir"] if "run_dir" in frame.columns else pd.Series("?", index=frame.index)
    for name in frame.columns:
        declared, values = column(name), frame[name]
        if declared is None:
            continue
        if declared.kind in ("text", "list"):
            frame[name] = values.map(_as_text if declared.kind == "text" else _as_json_list).astype(object)
            continue
        cast = values.map(_as_bool) if declared.kind == "bool" else pd.to_numeric(values.map(_number), errors="coerce")
        bad = values.notna() & cast.isna()
        if declared.kind == "int":
            bad |= cast.notna() & (cast % 1 != 0)
        if bad.any():
            first = bad.idxmax()
            raise ColumnValueError(where, declared, values[first], run_dirs[first])
        outside = cast.notna() & ~cast.between(0, 1) if name.endswith("accuracy") else bad
        if outside.any():  # a fraction of images: inf, -0.5 or 1.7 is damage, never a result
            first = outside.idxmax()
            raise ColumnValueError(where, declared, values[first], run_dirs[first], "a fraction from 0 to 1")
        frame[name] = cast.astype({"int": "Int64", "float": "float64", "bool": "boolean"}[declared.kind])
    return frame


def _as_text(value: object) -> object:
    import pandas as pd

    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return str(value)


def _as_json_list(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return _as_text(value)


def _number(value: object) -> object:
    """A cell for pd.to_numeric: a bool as text no number parses from (bools are not numbers here)."""
    return "bad" if isinstance(value, bool) else value


def _as_bool(value: object) -> object:
    """True or False, from a bool or its text in any case; None for nothing (None, NaN, NA) and for anything else."""
    return {"true": True, "false": False}.get(str(value).strip().lower())


def extra_settings(overrides: object, *, speed_levers: bool) -> dict[str, str]:
    """The overrides that set something without a column of its own (e.g. model.dropout), as {key: value}: never
    where or how a job runs (but the SPEED_LEVERS where `speed_levers`), nor Hydra's or a sweep's own keys."""
    from rnn_sweep.config.schema import NON_IDENTITY_KEYS

    left_out = [*NOT_SETTINGS, *(key for key in NON_IDENTITY_KEYS if not (speed_levers and key in SPEED_LEVERS))]
    return {key: value for key, value in parse_overrides(overrides).items()
            if key not in OVERRIDE_COLUMNS and not any(key == out or key.startswith(f"{out}.") for out in left_out)}


def lists_as_json(frame: pd.DataFrame) -> pd.DataFrame:
    """Every list or tuple cell as JSON, so a CSV holds `["a", "b"]` that any reader parses, never a Python repr."""
    return frame.map(lambda value: json.dumps(list(value), default=_plain)
                     if isinstance(value, (list, tuple)) else value)


def _plain(value: object) -> object:
    """A numpy or pandas scalar (a seed read back as Int64) as the Python number JSON takes."""
    return value.item() if hasattr(value, "item") else str(value)


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
