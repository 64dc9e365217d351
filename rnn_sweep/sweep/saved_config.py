"""Hydra's saving of a job's config in `.hydra/`, made whole-or-nothing and kept from ending the sweep when it fails.

Hydra saves config.yaml, hydra.yaml and overrides.yaml in a job's `.hydra/` just before the job starts, outside
anything that catches errors: on a full disk the sweep would end in Hydra's traceback, without its tables, and
leave a file cut short for resume to read. Installed in every process that runs jobs (rnn_sweep.launch.job), the
save here writes each file atomically (rnn_sweep.atomic) and, when it cannot, notes why instead of raising; the job
then ends `failed` with that reason before it trains. The job's log file, which Hydra opens next, is noted the same
way when it cannot be made.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hydra.core.utils
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

from rnn_sweep import atomic

_hydra_configure_log = hydra.core.utils.configure_log

_unsaved: dict[str, str] = {}  # job folder (absolute) -> why Hydra could not save its config or open its log there


def install() -> None:
    """Have Hydra's run_job (every launcher's, in this process) save a job's config through `save_config` and set up
    its log file through `configure_job_log`."""
    hydra.core.utils._save_config = save_config
    hydra.core.utils.configure_log = configure_job_log


def save_config(cfg: DictConfig | ListConfig, filename: str, output_dir: Path) -> None:
    """Hydra's `_save_config`, atomic; a failure (a full disk, a folder gone read-only) is noted for the job, whose
    other files are then not tried: the job will not start, and what room is left is kept for its record."""
    job = os.path.abspath(Path(output_dir).parent)
    if job in _unsaved:
        return
    try:
        atomic.write_text(Path(output_dir) / filename, OmegaConf.to_yaml(cfg))
    except OSError as error:
        _unsaved[job] = f"Hydra could not save the job's config in {output_dir} ({type(error).__name__}: {error})"


def configure_job_log(log_config: Any, verbose_config: Any = False) -> None:
    """Hydra's `configure_log` for a job, whose log file in the job's folder may find no room (no free inode): noted
    for the job like a config that could not be saved, and the job runs with no log file, to end `failed`."""
    try:
        _hydra_configure_log(log_config, verbose_config)
    except (ValueError, OSError) as error:  # logging.config raises ValueError, the OSError its cause
        cause = error.__cause__ or error
        job = os.path.abspath(HydraConfig.get().runtime.output_dir)
        _unsaved.setdefault(job, f"Hydra could not open the job's log file ({type(cause).__name__}: {cause})")


def unsaved(run_dir: Path) -> str | None:
    """Why Hydra could not save the config of the job about to start in `run_dir` (None: it did); asked once."""
    return _unsaved.pop(os.path.abspath(run_dir), None)
