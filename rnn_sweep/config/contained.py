"""Folder and file names set in Hydra's settings stay inside the run or sweep folder they belong to.

`hydra.sweep.subdir=../../x` would put every job beside (or far above) its sweep, where resume, tables and
reports never look; a job name with a `/` names a log file elsewhere. These are refused before anything runs.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

from omegaconf import DictConfig, OmegaConf

from rnn_sweep.errors import ConfigError

_OUTPUT_DIR = "${hydra.runtime.output_dir}"
# key under `hydra`, what it names, the folder it must stay in
_FOLDER_KEYS = (("sweep.subdir", "a job folder", "the sweep folder"),
                ("output_subdir", "the saved-config folder", "the run folder"))


def check_names_stay_inside(hydra_cfg: DictConfig) -> None:
    """Raise ConfigError for the first configured name that leads out of its run or sweep folder."""
    for key, what, home in _FOLDER_KEYS:
        value = _text(hydra_cfg, key)
        if value is not None and _escapes(value):
            raise _refusal(f"hydra.{key}", value, what, home, "a relative path without `..`, e.g. its default")
    name = _text(hydra_cfg, "job.name")
    if name is not None and (not name.strip(". ") or any(sep in name for sep in "/\\") or _escapes(name)):
        raise _refusal("hydra.job.name", name, "the job's log file", "the run folder",
                       "a plain name without `/`, `\\` or `..` (default rnn_sweep)")
    log_file = _text(hydra_cfg, "job_logging.handlers.file.filename")
    if log_file is not None and (not log_file.startswith(f"{_OUTPUT_DIR}/")
                                 or _escapes(log_file.removeprefix(f"{_OUTPUT_DIR}/"))):
        raise _refusal("hydra.job_logging.handlers.file.filename", log_file, "the job's log file", "the run folder",
                       f"{_OUTPUT_DIR}/NAME.log")


def _text(hydra_cfg: DictConfig, key: str) -> str | None:
    """The value as configured, interpolations unresolved (they are checked where they are typed)."""
    container = OmegaConf.to_container(hydra_cfg, resolve=False)
    for part in key.split("."):
        container = container.get(part) if isinstance(container, dict) else None
    return None if container is None else str(container)


def _escapes(path: str) -> bool:
    """Absolute (on any system), or climbing out with `..`."""
    return (path.startswith(("/", "\\", "~")) or PureWindowsPath(path).drive != ""
            or ".." in PurePosixPath(path.replace("\\", "/")).parts)


def _refusal(key: str, value: str, what: str, home: str, allowed: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} would put {what} outside {home}, where resume, tables and reports never "
                       f"look. Use {allowed}; choose where outputs go with hydra.run.dir=... (hydra.sweep.dir=... "
                       "with -m).")
