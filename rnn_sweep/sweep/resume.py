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

from rnn_sweep.config.validate import validate
from rnn_sweep.errors import ConfigError
from rnn_sweep.record.columns import HYDRA_DIR, RESULT_FILE
from rnn_sweep.record.identity import config_hash, identity_of, is_finished, saved_config_identity
from rnn_sweep.record.result_files import ResultFileError, read_result

RESOLVER = "rnn_sweep.job_dir"
DAMAGED = "damaged"  # the identity of a folder whose result.json cannot be read: never anyone's to write into


def register_resolver() -> None:
    OmegaConf.register_new_resolver(RESOLVER, job_dir, replace=True)


def job_dir(name: Any, *, _root_: DictConfig) -> str:
    """The job's folder, relative to the sweep folder: where its identity already is, else `name` if that holds
    nothing of another identity, else `<name>-<identity>` (or the first free `-2`, `-3`, ... after it)."""
    sweep = Path(_root_.hydra.sweep.dir)
    task = OmegaConf.masked_copy(_root_, [key for key in _root_ if key != "hydra"])
    wanted = _task_identity(json.dumps(OmegaConf.to_container(task, resolve=True), sort_keys=True, default=str))
    folders = identities(sweep)
    if wanted is not None and (own := _own_folder(folders, wanted)) is not None:
        return own.relative_to(sweep).as_posix()
    home = str(name)
    candidates = [home, f"{home}-{wanted or 'invalid'}", *(f"{home}-{wanted or 'invalid'}-{n}" for n in range(2, 1000))]
    for candidate in candidates:  # a folder holding `wanted` was found above: a free one holds no identity
        if folders.get(sweep / candidate) is None:
            return candidate
    raise ConfigError(f"No free job folder for {home} in {sweep}: clean up its `{home}-*` folders.")


@functools.lru_cache(maxsize=4096)
def _task_identity(task: str) -> str | None:
    """The identity of a job's config (as JSON: Hydra may resolve a job's folder more than once); None when invalid,
    so an invalid config gets a folder of its own, where it fails with the reason."""
    try:
        return config_hash(validate(OmegaConf.create(json.loads(task))))
    except ConfigError:
        return None


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


def identities(sweep: Path) -> dict[Path, str | None]:
    """Every job folder below `sweep` with the identity it holds: its record's, else (no record yet) that of the
    config Hydra saved there, DAMAGED for an unreadable result.json, None when nothing tells."""
    folders = {path.parent for pattern in (RESULT_FILE, HYDRA_DIR) for path in sweep.glob(f"**/{pattern}")}
    return {folder: _identity(folder) for folder in sorted(folders)}


def _identity(folder: Path) -> str | None:
    try:
        record = read_result(folder)
    except ResultFileError:
        return DAMAGED
    if record is not None:
        return identity_of(record) or DAMAGED
    return saved_config_identity(folder)


def _own_folder(folders: dict[Path, str | None], wanted: str) -> Path | None:
    """The folder already holding `wanted`: the one with its finished result if any, else the first."""
    own = [folder for folder, identity in folders.items() if identity == wanted]
    finished = [folder for folder in own if _finished_in(folder, wanted)]
    return (finished or own or [None])[0]


def _finished_in(folder: Path, wanted: str) -> bool:
    try:
        return is_finished(read_result(folder), wanted)
    except ResultFileError:
        return False


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
