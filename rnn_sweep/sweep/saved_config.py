"""Hydra's saving of a job's config in `.hydra/`, made whole-or-nothing and kept from ending the sweep when it fails.

Hydra saves config.yaml, hydra.yaml and overrides.yaml in a job's `.hydra/` just before the job starts, outside
anything that catches errors: on a full disk the sweep would end in Hydra's traceback, without its tables, and
leave a file cut short for resume to read. Installed in every process that runs jobs (rnn_sweep.launch.job), the
save here writes each file atomically (rnn_sweep.atomic) and, when it cannot, notes why instead of raising; the job
then ends `failed` with that reason before it trains.
"""

from __future__ import annotations

import os
from pathlib import Path

import hydra.core.utils
from omegaconf import DictConfig, ListConfig, OmegaConf

from rnn_sweep import atomic

_unsaved: dict[str, str] = {}  # job folder (absolute) -> why Hydra could not save its config there


def install() -> None:
    """Have Hydra's run_job (every launcher's, in this process) save a job's config through `save_config`."""
    hydra.core.utils._save_config = save_config


def save_config(cfg: DictConfig | ListConfig, filename: str, output_dir: Path) -> None:
    """Hydra's `_save_config`, atomic; a failure (a full disk, a folder gone read-only) is noted for the job, whose
    other files are then not tried: the job will not start, and what room is left is kept for its record."""
    job = os.path.abspath(Path(output_dir).parent)
    if job in _unsaved:
        return
    try:
        atomic.write_text(Path(output_dir) / filename, OmegaConf.to_yaml(cfg))
    except OSError as error:
        _unsaved[job] = f"{type(error).__name__}: {error}"


def unsaved(run_dir: Path) -> str | None:
    """Why Hydra could not save the config of the job about to start in `run_dir` (None: it did); asked once."""
    return _unsaved.pop(os.path.abspath(run_dir), None)
