"""The record's columns, declared once, and tables read back with those declared kinds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnn_sweep.record.columns import (
    COLUMNS,
    CONFIG_COLUMNS,
    DECLARED,
    KINDS,
    RECORD,
    ROLES,
    SETTING_COLUMNS,
    Column,
    ColumnValueError,
    _c,
    column,
    extra_settings,
    lists_as_json,
    read_table,
    setting_text,
    show,
    typed,
)
from rnn_sweep.report.tables import results_frame


def _record(run_dir: str, **values) -> dict:
    return {**dict.fromkeys(COLUMNS), "run_dir": run_dir, "status": "ok", "cell": "gru", "units": 8,
            "batch_size": 64, "seed": 0, "epochs": 1, "params": 500, "test_accuracy": 0.5, **values}


def test_every_column_is_declared_once_with_a_kind_and_a_role():
    assert len(COLUMNS) == len(set(COLUMNS)) == len(RECORD)
    assert all(column.kind in KINDS and column.role in ROLES and column.label for column in RECORD)
    assert (*SETTING_COLUMNS, "seed") == CONFIG_COLUMNS
    assert DECLARED["test_accuracy"].show(0.123456) == "0.1235" and DECLARED["units"].show(pd.NA) == "-"


def test_whole_numbers_stay_whole_and_folder_names_stay_text_through_results_csv(tmp_path):
    # A job that failed before its settings were known (no units, seed, ...) beside two that ran.
    frame = results_frame([_record("0"), _record("1", units=16, seed=1),
                           _record("2", status="failed", units=None, batch_size=None, seed=None, params=None)])
    path = tmp_path / "results.csv"
    frame.to_csv(path, index=False)
    lines = path.read_text().splitlines()
    assert lines[1].startswith("0,ok,,gru,8,64,") and ",16," in lines[2] and ".0," not in "".join(lines)

    read = read_table(path)
    assert read["run_dir"].tolist() == ["0", "1", "2"]  # text, so compare finds the folders
    assert str(read["units"].dtype) == "Int64" and read["units"].tolist()[:2] == [8, 16]
    assert read["units"].isna().tolist() == [False, False, True]
    assert str(read["test_accuracy"].dtype) == "float64"


@pytest.mark.parametrize("column,value,expected", [("units", "eight", "a whole number"),
                                                    ("units", "8.5", "a whole number"),
                                                    ("test_accuracy", "high", "a number"),
                                                    ("unroll", "maybe", "True or False")])
def test_a_foreign_value_is_a_named_error(tmp_path, column, value, expected):
    frame = results_frame([_record("0")]).astype({column: object})
    frame.loc[0, column] = value
    path = tmp_path / "results.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ColumnValueError) as error:
        read_table(path)
    assert f"{path} has {column}={value!r} (row of run_dir 0), which is not {expected}" in str(error.value)


def test_a_column_declared_without_a_label_is_labelled_by_its_name():
    assert _c("epoch_seconds_all", "list", "timing") == Column("epoch_seconds_all", "list", "timing",
                                                               "epoch seconds all", "{}")
    assert _c("units", "int", "setting", "cell units", "{:,}") == Column("units", "int", "setting", "cell units",
                                                                         "{:,}")


def test_a_cell_that_is_not_its_columns_kind_is_one_paragraph_naming_cell_row_and_remedy():
    frame = pd.DataFrame({"run_dir": ["a", "b"], "units": [8, "eight"]})
    with pytest.raises(ColumnValueError) as error:
        typed(frame)
    assert str(error.value) == (
        "the table has units='eight' (row of run_dir b), which is not a whole number; units holds a whole number "
        "or nothing. The file was changed by something other than rnn-sweep: rebuild the table with `rnn-sweep "
        "report` on its sweep folder, or fix that cell.")
    with pytest.raises(ColumnValueError, match=r"^the table has units=True \(row of run_dir \?\), which is not a "):
        typed(pd.DataFrame({"units": [8, True]}))  # no run_dir column; a bool is not a number


@pytest.mark.parametrize(("column", "value"), [("test_accuracy", 1.7), ("best_val_accuracy", -0.5),
                                               ("last_val_accuracy", float("inf")), ("test_accuracy", "1e9")])
def test_an_accuracy_outside_0_1_is_damage_never_a_result(column, value):
    frame = pd.DataFrame({"run_dir": ["a", "b"], column: [0.5, value]}).astype(object)
    with pytest.raises(ColumnValueError) as error:
        typed(frame, "results.csv")
    assert str(error.value).startswith(f"results.csv has {column}={value!r} (row of run_dir b), which is not a "
                                       f"fraction from 0 to 1; {column} holds a fraction from 0 to 1 or nothing.")


def test_numbers_outside_0_1_are_fine_where_the_column_is_no_accuracy():
    read = typed(pd.DataFrame({"test_loss": [1.7, None], "train_seconds": ["12.5", float("nan")],
                               "units": [8, pd.NA]}, dtype=object))
    assert read["test_loss"].tolist()[0] == 1.7 and read["train_seconds"].tolist()[0] == 12.5
    assert read["test_loss"].isna().tolist() == read["units"].isna().tolist() == [False, True]
    assert str(read["units"].dtype) == "Int64"


def test_text_stays_text_and_lists_become_json():
    read = typed(pd.DataFrame({"run_dir": [7, 1.5, None, "x"], "device": ["cpu", float("nan"), pd.NA, None],
                               "overrides": [["model=gru", "seed=1"], ("a=1",), '["b=2"]', None],
                               "note": [1, 2, 3, 4]}, dtype=object))
    assert read["run_dir"].where(read["run_dir"].notna(), None).tolist() == ["7", "1.5", None, "x"]
    assert read["device"].tolist()[0] == "cpu" and read["device"].isna().tolist() == [False, True, True, True]
    assert read["overrides"].tolist()[:3] == ['["model=gru", "seed=1"]', '["a=1"]', '["b=2"]']
    assert read["overrides"].isna().tolist() == [False, False, False, True]
    assert read["note"].tolist() == [1, 2, 3, 4]  # not a column of the record: left as it is


def test_true_and_false_in_any_case_are_the_bool_columns_values_and_nothing_else_is():
    read = typed(pd.DataFrame({"unroll": [True, False, " TRUE ", "false", None, float("nan")]}, dtype=object))
    assert read["unroll"].tolist()[:4] == [True, False, True, False] and read["unroll"].isna().sum() == 2
    assert str(read["unroll"].dtype) == "boolean"
    for value in ("yes", 1, 0.0):
        with pytest.raises(ColumnValueError, match="which is not True or False"):
            typed(pd.DataFrame({"unroll": [True, value]}, dtype=object))


def test_overrides_without_a_column_of_their_own_are_the_extra_settings():
    overrides = ["model=gru", "model.units=8", "seed=1", "model.dropout=0.2", "+train.label_smoothing=0.1",
                 "train.threads=4", "data.path=/d", "preset.name=x", "train.steps_per_execution=8",
                 "model.batch_shards=2", "hydra.sweep.dir=out", "sweep=grid",
                 "hparams_search=gru", "hparams_search.n_trials=3", "presets=1", "hydrax=2"]
    assert extra_settings(overrides, speed_levers=False) == {
        "model.dropout": "0.2", "train.label_smoothing": "0.1", "presets": "1", "hydrax": "2"}
    assert extra_settings(json.dumps(overrides), speed_levers=True) == {
        "model.dropout": "0.2", "train.label_smoothing": "0.1", "presets": "1", "hydrax": "2",
        "train.steps_per_execution": "8", "model.batch_shards": "2"}
    assert extra_settings(None, speed_levers=True) == {}


def test_lists_in_a_table_are_written_as_json_any_reader_parses():
    frame = pd.DataFrame({"params": [[np.int64(3), 1.5], ("a", None)], "seed": [pd.array([2], "Int64")[0], 4],
                          "where": [[Path("/x")], "plain"]})
    written = lists_as_json(frame)
    assert written["params"].tolist() == ["[3, 1.5]", '["a", null]']
    assert written["where"].tolist() == ['["/x"]', "plain"]
    assert written["seed"].tolist() == [2, 4]


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("overrides", ["model=gru", "seed=1"], "model=gru seed=1"),  # a list as one types its items
    ("overrides", '["model=gru"]', "model=gru"),  # the JSON a CSV file holds
    ("overrides", [], "-"),
    ("test_accuracy", float("nan"), "-"),
    ("test_accuracy", None, "-"),
    ("my_own_key", 3, "3"),  # no column of its own: shown as text
    ("my_own_key", None, "-"),
])
def test_every_value_is_shown_as_its_column_writes_it_and_a_missing_one_as_a_dash(name, value, shown):
    assert show(name, value) == shown


def test_a_value_is_shown_the_same_where_pandas_was_never_loaded(monkeypatch):
    """A run's summary box is printed without pandas (under a memory limit it may not load): NaN is still a dash."""
    monkeypatch.delitem(sys.modules, "pandas")
    assert show("test_accuracy", float("nan")) == "-" and show("overrides", None) == "-"
    assert show("test_accuracy", 0.5) == DECLARED["test_accuracy"].fmt.format(0.5)


def test_a_statistic_of_a_column_is_that_column_under_its_own_name():
    """`units_a` (compare's A side) keeps the int kind of `units`; a spread keeps its column's role; a name that only
    looks derived (`dropout_sd`, a swept key without a column) has no column."""
    for name in ("units_a", "test_accuracy_sd", "epoch_seconds_ratio"):
        found = column(name)
        assert found.name == name and found.role == column(name.rsplit("_", 1)[0]).role
    assert column("units_a").kind == "int" and column("test_accuracy_sd").kind == "float"
    assert column("dropout_sd") is None and column("model.dropout_mean") is None


def test_every_declared_column_after_one_without_a_declaration_gets_its_kind():
    frame = typed(pd.DataFrame({"model.dropout": ["0.1"], "units": ["8"], "run_dir": [0], "seed": ["2"]}))
    assert str(frame["units"].dtype) == "Int64" and frame["run_dir"].tolist() == ["0"]
    assert str(frame["seed"].dtype) == "Int64" and frame["model.dropout"].tolist() == ["0.1"]


def test_a_setting_is_written_as_one_types_it_each_value_in_its_columns_format():
    row = {"cell": "gru", "units": 32, "learning_rate": 0.00101, "model.dropout": None}
    assert setting_text(row, ["cell", "units"]) == "cell=gru units=32"
    rate = DECLARED["learning_rate"].fmt.format(0.00101)
    assert setting_text(row, ["learning_rate", "model.dropout"]) == f"learning_rate={rate} model.dropout=-"
    assert setting_text(row, []) == "all"  # nothing varies: the one setting there is
