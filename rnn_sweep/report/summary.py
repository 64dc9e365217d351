"""summary.csv: one row per setting of a sweep with its seeds folded, each number with how sure we are of it.

Accuracy: the mean over the runs that ended ok (not a search's pruned trials), its standard deviation and 95%
t-interval (empty for n = 1).
Timing: the median and interquartile range of every steady epoch (the first, which includes tracing, left out)
of every seed pooled, and the median training samples per second.
"""

from __future__ import annotations

import pandas as pd

from rnn_sweep.record.columns import COLUMNS, SETTING_COLUMNS, SUMMARY_COLUMNS, typed
from rnn_sweep.record.fold import fold


def setting_keys(frame: pd.DataFrame) -> list[str]:
    """What tells settings apart in a sweep table: the core settings and every other swept key; never the seed."""
    others = [column for column in frame.columns if column not in COLUMNS and frame[column].nunique(dropna=True) > 1]
    return [*(column for column in SETTING_COLUMNS if column in frame.columns), *others]


def summary_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One row per setting (seeds folded) with SUMMARY_COLUMNS, in setting order."""
    keys = setting_keys(results)
    rows = [
        {**dict(zip(keys, values, strict=True)), **fold(group).summary_row()}  # grouped by a list: a tuple
        for values, group in results.groupby(keys, dropna=False, sort=True)
    ]
    return typed(pd.DataFrame(rows, columns=[*keys, *SUMMARY_COLUMNS]))
