"""The flat result record of one run: its columns, its identity hash, and reading/writing result.json."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnn_sweep import atomic
from rnn_sweep.errors import UserError
from rnn_sweep.record.columns import (
    COLUMNS,
    CONTRACT_COLUMNS,
    HYDRA_DIR,
    IMPLIED_BY_OLDER_RECORDS,
    NUMERIC_COLUMNS,
    RECORD,
    RESULT_FILE,
    STATUSES,
    Column,
)
from rnn_sweep.record.identity import config_hash, identity_of, job_identity


def new_record(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """A record with the config columns filled in and every metric empty, ready to be completed."""
    from rnn_sweep import __version__

    record: dict[str, Any] = dict.fromkeys(COLUMNS)
    record.update(
        run_dir=str(run_dir),
        status="failed",
        **config_columns(cfg),
        config_hash=config_hash(cfg),
        overrides=list(overrides),
        rnn_sweep_version=__version__,
        preset=OmegaConf.select(cfg, "preset.name"),
        reported_test_accuracy=OmegaConf.select(cfg, "preset.reported_test_accuracy"),
        target_test_accuracy=OmegaConf.select(cfg, "preset.target_test_accuracy"),
        **scheduler_fields(os.environ),
        preset_measures=OmegaConf.select(cfg, "preset.measures"),
    )
    return record


def refused_record(cfg: DictConfig, run_dir: Path, overrides: list[str], error: str) -> dict[str, Any]:
    """The `failed` record of a job whose config validation refuses: the settings it was given, as far as they are
    values of their columns' kinds, and the identity of the config as composed, so its row says which setting
    failed and why, and a resume finds its folder again instead of adding a row."""
    return {**dict.fromkeys(COLUMNS), "run_dir": str(run_dir), "status": "failed", "error": error,
            **config_columns(cfg), "config_hash": job_identity(cfg), "overrides": list(overrides),
            **scheduler_fields(os.environ)}


def config_columns(cfg: DictConfig) -> dict[str, Any]:
    """The setting and seed columns as `cfg` gives them (each from its column's config key); a value that is not of
    its column's kind (in a config validation refuses) is left empty rather than written as something else."""
    columns = {}
    for column in (column for column in RECORD if column.key):
        value = OmegaConf.select(cfg, column.key, default=None, throw_on_resolution_failure=False)
        columns[column.name] = value if _of_kind(column, value) else None
    return columns


def _of_kind(column: Column, value: object) -> bool:
    if value is None or column.kind == "text":
        return value is None or isinstance(value, str)
    return not isinstance(value, bool) and isinstance(value, int if column.kind == "int" else (int, float))


def scheduler_fields(environ: Mapping[str, str]) -> dict[str, str]:
    """Where a SLURM job ran (scheduler, job id as squeue and scancel name it, node); nothing outside SLURM."""
    job_id = environ.get("SLURM_JOB_ID")
    if not job_id:
        return {}
    array_id, task_id = environ.get("SLURM_ARRAY_JOB_ID"), environ.get("SLURM_ARRAY_TASK_ID")
    return {
        "scheduler": "slurm",
        "slurm_job_id": f"{array_id}_{task_id}" if array_id and task_id else job_id,
        "node": environ.get("SLURMD_NODENAME"),
    }


class ResultFileError(UserError):
    """A result.json that is not a whole record (rnn-sweep writes them atomically, so something else damaged it)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"Cannot read {path} ({reason}): it was cut short or changed by something other than rnn-sweep, which "
            "writes it in one piece. Resuming never overwrites it (that job trains in a fresh folder beside it); "
            "delete the file to read the rest of the sweep."
        )
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Scan:
    """What a run or sweep folder holds: the readable records, and the job folders that have none.

    A job folder is one with Hydra's `.hydra/` in it: Hydra makes that before the job starts, so a folder with
    `.hydra/` and no result.json is a job that is still running or was killed.
    """

    records: list[dict[str, Any]]
    unfinished: list[Path]
    unreadable: list[ResultFileError]

    def readable_records(self) -> list[dict[str, Any]]:
        """The records, or ResultFileError for the first result.json that cannot be read."""
        if self.unreadable:
            raise self.unreadable[0]
        return self.records


def write_result(run_dir: Path, record: dict[str, Any]) -> None:
    atomic.write_json(Path(run_dir) / RESULT_FILE, record)


def write_last_result(run_dir: Path, record: dict[str, Any]) -> OSError | None:
    """Write a job's last record, or on a full disk the same record marked failed with the reason (the failed write
    freed its temporary file, and a record marked failed is retried on resume); the error when even that found no
    room, None once written."""
    try:
        write_result(run_dir, record)
        return None
    except OSError as error:
        record.update(status="failed", error=f"its record could not be written ({error.strerror}) after: "
                                             f"{record['error'] or 'the run ended ' + record['status']}")
        try:
            write_result(run_dir, record)
            return None
        except OSError:
            return error


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """The run's record; None when it has none yet (a job still running, or killed); ResultFileError if unreadable."""
    path = Path(run_dir) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultFileError(path, str(error)) from None
    if not isinstance(record, dict):
        raise ResultFileError(path, f"a JSON {type(record).__name__}, not a run's record")
    if problem := _not_a_record(record):
        raise ResultFileError(path, problem)
    return record


def _not_a_record(record: dict[str, Any]) -> str | None:
    """What keeps `record` from being one rnn-sweep wrote: a missing column, an unknown status, text as a metric."""
    missing = [column for column in CONTRACT_COLUMNS if column not in record and column not in IMPLIED_BY_OLDER_RECORDS]
    if missing:
        return f"no {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
    if record["status"] not in STATUSES:
        return f"status {record['status']!r} is not one of {', '.join(STATUSES)}"
    for column in NUMERIC_COLUMNS:
        value = record.get(column)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{column} is {value!r}, not a number"
    return None


def scan_results(folder: Path) -> Scan:
    """Every result.json at or below `folder` (a run folder or a sweep folder), read from disk.

    Reading from disk, not from memory, is what lets jobs run in other processes or on other machines.
    """
    folder = Path(folder)
    if (folder / RESULT_FILE).is_file():
        run_dirs = [folder]
    else:
        run_dirs = sorted({path.parent for pattern in (RESULT_FILE, HYDRA_DIR) for path in folder.rglob(pattern)})
    records, unfinished, unreadable = [], [], []
    for run_dir in run_dirs:
        try:
            record = read_result(run_dir)
        except ResultFileError as error:
            unreadable.append(error)
            continue
        if record is None:
            unfinished.append(run_dir)
        else:
            records.append({**record, "run_dir": str(run_dir)})  # where it is now, even in a moved or copied sweep
    return Scan(records, unfinished, unreadable)


def collect_results(folder: Path) -> list[dict[str, Any]]:
    """The records at or below `folder`; ResultFileError for the first result.json that cannot be read."""
    return scan_results(folder).readable_records()


def foreign_record(run_dir: Path, cfg: DictConfig) -> str | None:
    """Why `run_dir` may not be written by a run of `cfg` (it holds another config's record, or a damaged one);
    None when it is free or holds this config's own."""
    try:
        existing = read_result(run_dir)
    except ResultFileError as error:
        return (f"{run_dir} holds a damaged result.json ({error.reason}), which is never overwritten. Delete "
                f"{error.path} or choose another folder.")
    if existing is None or identity_of(existing) == config_hash(cfg):
        return None
    return (f"{run_dir} already holds the result of another config (config_hash {identity_of(existing)}, "
            f"overrides: {' '.join(map(str, existing.get('overrides') or [])) or 'none'}), which is never "
            "overwritten. Leave out hydra.run.dir to get a new run folder, or choose an empty one.")


UNFINISHED = "unfinished"  # not a record's status: how compare shows a job folder that has no result.json


def unfinished_record(job_dir: Path) -> dict[str, Any] | None:
    """What a job folder without result.json was started to train (from the config and overrides Hydra saved in
    `.hydra/`), with status UNFINISHED and no metrics; None when the saved config cannot be read."""
    from rnn_sweep.config.validate import validate

    hydra = Path(job_dir) / HYDRA_DIR
    try:
        typed = validate(OmegaConf.load(hydra / "config.yaml"))
        overrides = OmegaConf.to_container(OmegaConf.load(hydra / "overrides.yaml")) \
            if (hydra / "overrides.yaml").is_file() else []
    except Exception:  # cut short or not a config of this tool: nothing tells what the job was
        return None
    return {**new_record(typed, Path(job_dir), list(map(str, overrides or []))), "status": UNFINISHED,
            "error": f"no {RESULT_FILE}: still running, or killed"}
