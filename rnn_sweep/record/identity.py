"""What a job is: the hash of what it trains (its setting keys and seed), and where a folder's record stands.

This is the one place that decides identity. Resume finds a finished job by it, wherever its folder is; a folder
that holds another identity's record is never written into.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnn_sweep.config.schema import LATER_KEYS, NON_IDENTITY_KEYS
from rnn_sweep.config.validate import validate
from rnn_sweep.errors import ConfigError

IDENTITY_COLUMN = "config_hash"


def config_hash(cfg: DictConfig) -> str:
    """A short hash of everything that decides what is trained (every key but NON_IDENTITY_KEYS, and LATER_KEYS at
    their default), seed included: two runs with one hash train the same thing."""
    container = OmegaConf.to_container(cfg, resolve=True)
    for dotted in NON_IDENTITY_KEYS:
        _parent(container, dotted).pop(dotted.rpartition(".")[2], None)
    for dotted, default in LATER_KEYS.items():
        parent, leaf = _parent(container, dotted), dotted.rpartition(".")[2]
        if leaf in parent and parent[leaf] == default:
            del parent[leaf]
    canonical = json.dumps(container, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def job_identity(cfg: DictConfig) -> str | None:
    """The identity of a job's config as composed: the hash of its validated form; for a config that validation
    refuses, the hash of it as given, so that such a job too keeps one folder and one (failed) row however often the
    sweep is resumed; None when it does not even resolve."""
    try:
        return config_hash(validate(cfg))
    except ConfigError:
        pass
    try:
        return config_hash(cfg)
    except Exception:  # an interpolation that does not resolve: nothing tells what the job is
        return None


def _parent(container: dict[str, Any], dotted: str) -> dict[str, Any]:
    parent = container
    for part in dotted.split(".")[:-1]:
        parent = parent.get(part, {})
    return parent


def identity_of(record: dict[str, Any] | None) -> str | None:
    """The identity a record was written for (None for no record, or one without a hash)."""
    value = (record or {}).get(IDENTITY_COLUMN)
    return value if isinstance(value, str) else None


def is_finished(record: dict[str, Any] | None, identity: str | None) -> bool:
    """Whether `record` is an `ok` result of `identity`: the job is done and is skipped on resume."""
    return record is not None and record.get("status") == "ok" and identity_of(record) == identity


def saved_config_identity(job_dir: Path) -> str | None:
    """The identity of the config Hydra saved in a job folder (`.hydra/config.yaml`), for a job that has no record
    yet (still running, or killed); None when there is none or it is not a valid config."""
    path = Path(job_dir) / ".hydra" / "config.yaml"
    try:
        return config_hash(validate(OmegaConf.load(path)))
    except Exception:  # unreadable, cut short, or not a config of this tool: its identity is unknown
        return None
