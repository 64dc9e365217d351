"""Resuming and growing a sweep in its old folder: a job is found by what it trains, never by its number.

Hydra writes a job's .hydra/ files before the task starts, so the job's folder has to be chosen earlier: the
folder name (`hydra.sweep.subdir`) goes through the `rnn_sweep.job_dir` resolver below. It sends a job to the
folder that already holds its identity (a finished result is then skipped, an unfinished or failed one trained
again in place), else to the folder Hydra would use if that holds nothing of another identity, else to a fresh
folder named by the identity. So more seeds, more values, values in another order or fewer values train only
what has no finished result, each identity keeps one folder and one row, and no record is written over.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnn_sweep.errors import ConfigError, NoRoomForRecord
from rnn_sweep.record.identity import config_hash, identity_of, is_finished, job_identity
from rnn_sweep.record.result_files import ResultFileError, read_result
from rnn_sweep.sweep.folder_index import folder_index

RESOLVER = "rnn_sweep.job_dir"


def register_resolver() -> None:
    OmegaConf.register_new_resolver(RESOLVER, job_dir, replace=True)


def job_dir(name: Any, *, _root_: DictConfig) -> str:
    """The job's folder, relative to the sweep folder: where its identity already is, else `name` if that holds
    nothing of another identity, else `<name>-<identity>` (or the first free `-2`, `-3`, ... after it)."""
    folders = folder_index(Path(_root_.hydra.sweep.dir))
    sweep, wanted = folders.sweep, task_identity(_root_)
    if wanted is None:
        folders.refresh()
    elif (own := folders.own_folder(wanted)) is not None:  # refreshes the index when it does not know `wanted`
        return own.relative_to(sweep).as_posix()
    home = str(name)
    candidates = [home, f"{home}-{wanted or 'invalid'}", *(f"{home}-{wanted or 'invalid'}-{n}" for n in range(2, 1000))]
    for candidate in candidates:  # a folder holding `wanted` was found above: a free one holds no identity
        if folders.holder(sweep / candidate) is None:
            _make(sweep / candidate, OmegaConf.select(_root_, "hydra.job.num", default=home))
            return candidate
    raise ConfigError(f"No free job folder for {home} in {sweep}: clean up its `{home}-*` folders.")


def _make(folder: Path, job: Any) -> None:
    """Make a job's folder here, where failing can still end the command in one line: Hydra makes it next, outside
    anything that catches errors, and a job with no folder has nowhere to write even its `failed` record."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NoRoomForRecord(f"job {job} not run: its folder {folder} could not be made ({error.strerror}), so "
                              "not even its record could be written") from None


@functools.lru_cache(maxsize=4096)
def _task_identity(task: str) -> str | None:
    """The identity of a job's config (as JSON: Hydra may resolve a job's folder more than once); for a config that
    validation refuses, that of the config as given, so it keeps a folder of its own, where it fails with the reason."""
    return job_identity(OmegaConf.create(json.loads(task)))


def through_resolver(argv: list[str]) -> list[str]:
    """`argv` with a job folder name given by hand (`hydra.sweep.subdir=...`) passed through `job_dir` too, so a job
    whose named folder holds another identity's record goes to a fresh folder instead of writing over it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    key = "hydra.sweep.subdir="
    changed = []
    for arg in argv:
        if arg.startswith(key) and RESOLVER not in arg:
            value = OverridesParser.create().parse_override(arg).value()
            if isinstance(value, str) and not any(quote in value for quote in "'\"\\"):
                arg = key + '"${' + RESOLVER + ":'" + value + "'}\""
        changed.append(arg)
    return changed


def task_identity(composed: DictConfig) -> str | None:
    """The identity of a job's composed config, Hydra's own keys left out: the one the resolver gives it."""
    task = OmegaConf.masked_copy(composed, [key for key in composed if key != "hydra"])
    return _task_identity(json.dumps(OmegaConf.to_container(task, resolve=True), sort_keys=True, default=str))


def finished_records(sweep: Path) -> dict[str, dict[str, Any]]:
    """Every `ok` record below `sweep`, by its identity: the jobs a resumed race takes without launching them."""
    index = folder_index(sweep)
    index.refresh()
    records = {}
    for folder in index.job_folders():
        try:
            record = read_result(folder)
        except ResultFileError:
            continue
        if is_finished(record, identity := identity_of(record)):
            records[identity] = record
    return records


def finished_result(cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
    """The record already in `run_dir` if it is `ok` for this very config, so the job can be skipped."""
    existing = _readable_result(run_dir)
    return existing if is_finished(existing, config_hash(cfg)) else None


def settled_result(cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
    """The record another process left in `run_dir` for this config while this one waited for its claim: taken as
    the job's result whatever its status (training it again would only repeat the failure), unless `interrupted`."""
    existing = _readable_result(run_dir)
    if existing and existing.get("status") != "interrupted" and identity_of(existing) == config_hash(cfg):
        return existing
    return None


def _readable_result(run_dir: Path) -> dict[str, Any] | None:
    """The record in `run_dir`, or None (none yet, or damaged: `job_dir` keeps a damaged one's folder untouched)."""
    try:
        return read_result(run_dir)
    except ResultFileError:
        return None
