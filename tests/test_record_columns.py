"""The record's columns, declared once, and tables read back with those declared kinds."""

from __future__ import annotations

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
    ColumnValueError,
    read_table,
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
