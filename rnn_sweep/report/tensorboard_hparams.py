"""TensorBoard's HParams view of a sweep (grid or search), written from the jobs' records without TensorFlow.

When the jobs logged to TensorBoard (train.tensorboard=true), the sweep folder gets `tensorboard/`: one folder per
job named by the settings that vary and the seed (`cell=gru,units=8,seed=1`), holding that job's curves (hard
links to the files in `<job>/tensorboard/`, so nothing is copied) and its HParams session (its settings and final
metrics), beside the experiment (which settings to show: the varied ones marked `differs`, so TensorBoard's table
shows them by default). `tensorboard --logdir <sweep folder>/tensorboard` then names every run by what it tried.
The view is rebuilt whole on every aggregation, so a resumed sweep replaces it instead of adding to it.
"""

from __future__ import annotations

import io
import math
import os
import shutil
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
from rnn_sweep.record.columns import COLUMNS, SETTING_COLUMNS, TENSORBOARD_DIR, label, shown_in
from rnn_sweep.record.fold import ended_well

# TensorBoard reads every file whose name holds "tfevents".
HPARAMS_EVENTS = "events.out.tfevents.rnn-sweep-hparams"


def write_hparams(sweep_dir: Path, results: pd.DataFrame) -> int:
    """Rebuild the sweep's `tensorboard/` view from the jobs that logged to TensorBoard; how many sessions."""
    sweep_dir = Path(sweep_dir)
    logged = [] if results.empty else [(folder, record) for record in results.to_dict("records")
                                       if (folder := _job_logs(sweep_dir, record)).is_dir()]
    if not logged:
        return 0
    names = [*SETTING_COLUMNS, *(column for column in results.columns if column not in COLUMNS)]
    settings = [_setting(name, [_value(record.get(name)) for _, record in logged]) for name in names]
    settings = [setting for setting in settings if setting is not None]
    varied = [setting.name for setting in settings if _differs(setting)]
    building = sweep_dir / f".{TENSORBOARD_DIR}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    taken: set[str] = set()
    for job_logs, record in logged:
        session = building / _run_name(record, varied, taken)
        _link_tree(job_logs, session)
        _write_events(session / HPARAMS_EVENTS, _session(record, names, _group_name(record, varied)))
    metrics = [hp.Metric(found.name, display_name=found.label) for found in shown_in("hparams")]
    experiment = hp.hparams_config_pb(settings, metrics)
    _mark_differs(experiment, set(varied))
    _write_events(building / HPARAMS_EVENTS, [(0, experiment)])
    _replace(building, sweep_dir / TENSORBOARD_DIR)
    return len(logged)


def _job_logs(sweep_dir: Path, record: dict[str, Any]) -> Path:
    """The job's own TensorBoard folder, found inside `sweep_dir` (so a moved sweep folder still works)."""
    return sweep_dir / Path(str(record["run_dir"])).name / TENSORBOARD_DIR


def _differs(setting: hp.HParam) -> bool:
    domain = setting.domain
    if isinstance(domain, hp.Discrete):
        return len(domain.values) > 1
    return domain is not None  # a RealInterval is only made from values that differ; no domain: mixed values


def _run_name(record: dict[str, Any], varied: list[str], taken: set[str]) -> str:
    """`cell=gru,units=8,seed=1`: the settings that vary and the seed; the job number added only to a twin."""
    parts = [f"{name}={_value(record.get(name))}" for name in [*varied, "seed"] if name in record]
    name = ",".join(parts).replace("/", "_") or Path(str(record["run_dir"])).name
    if name in taken:
        name = f"{name},job={Path(str(record['run_dir'])).name}"
    taken.add(name)
    return name


def _mark_differs(experiment: summary_pb2.Summary, varied: set[str]) -> None:
    """TensorBoard's table shows by default only the hparams whose `differs` is set; hp.hparams_config_pb never sets
    it."""
    value = experiment.value[0]
    data = metadata.parse_experiment_plugin_data(value.metadata.plugin_data.content)
    for info in data.hparam_infos:
        info.differs = info.name in varied
    value.metadata.CopyFrom(metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(experiment=data)))


def _link_tree(source: Path, target: Path) -> None:
    """The job's event files under `target`, as hard links (a copy where the file system has none)."""
    for path in source.rglob("*"):
        if path.is_file() and path.name != HPARAMS_EVENTS:
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, destination)
            except OSError:
                shutil.copy2(path, destination)
    target.mkdir(parents=True, exist_ok=True)


def _replace(built: Path, view: Path) -> None:
    """Swap the new view in for the old one; a reader sees one or the other, for the moment of two renames."""
    old = view.with_name(f".{view.name}.old-{os.getpid()}")
    if view.exists():
        view.rename(old)
    built.rename(view)
    shutil.rmtree(old, ignore_errors=True)


def _group_name(record: dict[str, Any], varied: list[str]) -> str:
    """The seeds of one setting form one group, named by its varied settings (TensorBoard would show a hash)."""
    return ",".join(f"{name}={_value(record.get(name))}" for name in varied) or "all jobs"


def _session(record: dict[str, Any], names: list[str], group: str) -> list[tuple[int, summary_pb2.Summary]]:
    """The session start (its settings), the final metrics as scalars, and the session end (its status)."""
    settings = {name: value for name in names if (value := _value(record.get(name))) is not None}
    step = int(_value(record.get("epochs_completed")) or 0)
    summaries = [(0, hp.hparams_pb(settings, trial_id=group, start_time_secs=_time(record, "started_at")))]
    summaries += [(step, scalar_pb(found.name, value)) for found in shown_in("hparams")
                  if (value := _value(record.get(found.name))) is not None]
    status = api_pb2.STATUS_SUCCESS if ended_well(record.get("status")) else api_pb2.STATUS_FAILURE
    end = plugin_data_pb2.HParamsPluginData(session_end_info=plugin_data_pb2.SessionEndInfo(
        status=status, end_time_secs=_time(record, "finished_at")))
    summary = summary_pb2.Summary()
    summary.value.add(tag=metadata.SESSION_END_INFO_TAG, metadata=metadata.create_summary_metadata(end),
                      tensor=metadata.NULL_TENSOR)
    return [*summaries, (step, summary)]


def _setting(name: str, values: list[Any]) -> hp.HParam | None:
    """The HParam with the values the jobs took: a range for real numbers, a list for everything else; shown under
    the column's label."""
    present = [value for value in values if value is not None]
    if not present:
        return None
    if all(isinstance(value, float) for value in present) and min(present) < max(present):
        return hp.HParam(name, hp.RealInterval(min(present), max(present)), display_name=label(name))
    kinds = {type(value) for value in present}
    if len(kinds) > 1:  # mixed numbers and text (e.g. an override that was not always given): no domain
        return hp.HParam(name, display_name=label(name))
    return hp.HParam(name, hp.Discrete(sorted(set(present))), display_name=label(name))


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
