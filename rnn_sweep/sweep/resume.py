"""Resuming a sweep in its old folder: skip jobs already done, never overwrite another config's job or a damaged one.

Hydra writes a job's .hydra/ files before the task starts, so a clash has to be seen earlier: the job
folder name (`hydra.sweep.subdir`) is chosen by the `rnn_sweep.job_dir` resolver below, which sends a job
whose number is taken by a different config to a sibling folder, where it fails with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnn_sweep.config.validate import validate
from rnn_sweep.errors import ConfigError
from rnn_sweep.results.columns import overrides_text
from rnn_sweep.results.record import ResultFileError, config_hash, read_result

CLASH_MARK = ".clash-"
RESOLVER = "rnn_sweep.job_dir"


def register_resolver() -> None:
    OmegaConf.register_new_resolver(RESOLVER, job_dir, replace=True)


def job_dir(num: Any, *, _root_: DictConfig) -> str:
    """The job's folder name: its number, unless that folder holds a result for a different config."""
    home = str(num)
    try:
        existing = read_result(Path(_root_.hydra.sweep.dir) / home)
    except ResultFileError:
        existing = {}  # damaged: whose result it was cannot be told, so it is never overwritten
    if existing is None:
        return home
    task = OmegaConf.masked_copy(_root_, [key for key in _root_ if key != "hydra"])
    try:
        wanted = config_hash(validate(task))
    except ConfigError:
        wanted = None
    if existing and existing.get("config_hash") == wanted:
        return home
    return f"{home}{CLASH_MARK}{wanted or 'invalid'}"


def clash_error(run_dir: Path) -> str | None:
    """Why this job may not run, when `job_dir` moved it aside; None for an ordinary job folder."""
    home_name, mark, _ = run_dir.name.partition(CLASH_MARK)
    if not mark:
        return None
    home = run_dir.with_name(home_name)
    try:
        existing = read_result(home) or {}
    except ResultFileError as error:
        return (
            f"The job folder {home} holds a damaged result.json ({error.reason}), so this job was not run and that "
            f"folder was left untouched. Delete {error.path} and resume the sweep to train the job again."
        )
    return (
        f"The job folder {home} already holds a result for a different config (config_hash "
        f"{existing.get('config_hash')}, overrides: {overrides_text(existing.get('overrides')) or 'none'}), "
        "so this job was not run and that folder was left untouched. Resume a sweep with the same overrides it was "
        "started with, or start a new sweep (leave out hydra.sweep.dir)."
    )


def finished_result(cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
    """The record already in `run_dir` if it is `ok` for this very config, so the job can be skipped."""
    existing = _readable_result(run_dir)
    if existing and existing.get("status") == "ok" and existing.get("config_hash") == config_hash(cfg):
        return existing
    return None


def settled_result(cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
    """The record another process left in `run_dir` for this config while this one waited for its claim: taken as
    the job's result whatever its status (training it again would only repeat the failure), unless `interrupted`."""
    existing = _readable_result(run_dir)
    if existing and existing.get("status") != "interrupted" and existing.get("config_hash") == config_hash(cfg):
        return existing
    return None


def _readable_result(run_dir: Path) -> dict[str, Any] | None:
    """The record in `run_dir`, or None (none yet, or damaged: `job_dir` keeps a damaged one's folder untouched)."""
    try:
        return read_result(run_dir)
    except ResultFileError:
        return None
