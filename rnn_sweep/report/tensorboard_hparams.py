"""TensorBoard's HParams view of a sweep (grid or search), written from the jobs' records without TensorFlow.

When the jobs logged to TensorBoard (train.tensorboard=true), each job's `tensorboard/` folder becomes a session
with its settings (the seed left out, so the seeds of one setting form one group) and its final metrics, and the
sweep folder gets the experiment (which settings and metrics to show), so `tensorboard --logdir <sweep folder>`
shows the table and parallel-coordinates views. Files have fixed names and are rewritten whole on every
aggregation, so a resumed sweep updates them instead of adding more.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.summary.writer.record_writer import RecordWriter

from rnn_sweep import atomic
from rnn_sweep.record.columns import COLUMNS, SETTING_COLUMNS, TENSORBOARD_DIR
from rnn_sweep.record.fold import ended_well

# TensorBoard reads every file whose name holds "tfevents".
HPARAMS_EVENTS = "events.out.tfevents.rnn-sweep-hparams"
METRICS = {"test_accuracy": "test accuracy", "best_val_accuracy": "best validation accuracy",
           "epoch_seconds": "epoch seconds (median)"}


def write_hparams(sweep_dir: Path, results: pd.DataFrame) -> int:
    """Write the sessions of the jobs that logged to TensorBoard and the sweep's experiment; how many sessions."""
    if results.empty:
        return 0
    logged = [(folder, record) for record in results.to_dict("records")
              if (folder := _session_dir(sweep_dir, record)).is_dir()]
    if not logged:
        return 0
    names = [*SETTING_COLUMNS, *(column for column in results.columns if column not in COLUMNS)]
    for folder, record in logged:
        _write_events(folder / HPARAMS_EVENTS, _session(record, names))
    settings = [_setting(name, [_value(record.get(name)) for _, record in logged]) for name in names]
    experiment = hp.hparams_config_pb([s for s in settings if s is not None],
                                      [hp.Metric(tag, display_name=label) for tag, label in METRICS.items()])
    _write_events(sweep_dir / HPARAMS_EVENTS, [(0, experiment)])
    return len(logged)


def _session_dir(sweep_dir: Path, record: dict[str, Any]) -> Path:
    """The job's TensorBoard folder, found inside `sweep_dir` (so a moved sweep folder still works)."""
    return Path(sweep_dir) / Path(str(record["run_dir"])).name / TENSORBOARD_DIR


def _session(record: dict[str, Any], names: list[str]) -> list[tuple[int, summary_pb2.Summary]]:
    """The session start (its settings), the final metrics as scalars, and the session end (its status)."""
    settings = {name: value for name in names if (value := _value(record.get(name))) is not None}
    step = int(_value(record.get("epochs_completed")) or 0)
    summaries = [(0, hp.hparams_pb(settings, start_time_secs=_time(record, "started_at")))]
    summaries += [(step, scalar_pb(tag, value)) for tag in METRICS if (value := _value(record.get(tag))) is not None]
    status = api_pb2.STATUS_SUCCESS if ended_well(record.get("status")) else api_pb2.STATUS_FAILURE
    end = plugin_data_pb2.HParamsPluginData(session_end_info=plugin_data_pb2.SessionEndInfo(
        status=status, end_time_secs=_time(record, "finished_at")))
    summary = summary_pb2.Summary()
    summary.value.add(tag=metadata.SESSION_END_INFO_TAG, metadata=metadata.create_summary_metadata(end),
                      tensor=metadata.NULL_TENSOR)
    return [*summaries, (step, summary)]


def _setting(name: str, values: list[Any]) -> hp.HParam | None:
    """The HParam with the values the jobs took: a range for real numbers, a list for everything else."""
    present = [value for value in values if value is not None]
    if not present:
        return None
    if all(isinstance(value, float) for value in present) and min(present) < max(present):
        return hp.HParam(name, hp.RealInterval(min(present), max(present)))
    kinds = {type(value) for value in present}
    if len(kinds) > 1:  # mixed numbers and text (e.g. an override that was not always given): no domain
        return hp.HParam(name)
    return hp.HParam(name, hp.Discrete(sorted(set(present))))


def _value(value: Any) -> bool | int | float | str | None:
    """A plain Python value TensorBoard accepts; None for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):  # numpy scalars from the results frame
        return _value(value.item())
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def _time(record: dict[str, Any], column: str) -> float | None:
    moment = pd.to_datetime(record.get(column), errors="coerce")
    return None if pd.isna(moment) else moment.timestamp()


def _write_events(path: Path, summaries: list[tuple[int, summary_pb2.Summary]]) -> None:
    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    now = time.time()
    writer.write(event_pb2.Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
    for step, summary in summaries:
        writer.write(event_pb2.Event(wall_time=now, step=step, summary=summary).SerializeToString())
    atomic.write_bytes(path, buffer.getvalue())
