"""Compose and validate every job a command line asks for, before Hydra launches any of them.

A sweep of 36 jobs whose 30th has `model.units=0` should fail in a second, not after 29 trainings; and
Hydra's own composition errors are reworded here into one paragraph that names the allowed values.
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib.util
import os
from pathlib import Path
from typing import NamedTuple

import yaml
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from rnn_sweep.cluster.configs import register_launchers
from rnn_sweep.cluster.scheduler import check_scheduler
from rnn_sweep.config.contained import check_names_stay_inside
from rnn_sweep.config.overrides import task_overrides
from rnn_sweep.config.paths import conf_dir
from rnn_sweep.config.schema import register
from rnn_sweep.config.validate import GROUP_CHOICES, explain_omegaconf_error, unknown_option, validate
from rnn_sweep.console import stdout
from rnn_sweep.data.loading import DATA_SETS, download_data, locate_data
from rnn_sweep.errors import ConfigError
from rnn_sweep.record.columns import MULTIRUN_FILE
from rnn_sweep.record.result_files import foreign_record
from rnn_sweep.search.settings import SWEEPER_TARGET
from rnn_sweep.search.space import search_space
from rnn_sweep.sweep import longest_first
from rnn_sweep.sweep.grid import GRID_SWEEPERS, register_grid_sweeper
from rnn_sweep.sweep.launchers import jobs_at_once, launcher_traits
from rnn_sweep.sweep.parallel import CpuSample, SideBySide, idle_cores, side_by_side
from rnn_sweep.train.device import available_cores

# Hydra flags that only print something: nothing will train, so nothing needs checking.
_INFO_FLAGS = ("help", "hydra_help", "cfg", "info", "shell_completion", "resolve")
_OVERRIDE_FORMS = ("Overrides look like `key=value` (e.g. model.units=64), `group=option` (e.g. model=gru) or, "
                   "with -m, `key=a,b,c`.")


class OutputFolder(NamedTuple):
    """Where the command will write: the Hydra key that sets it, and the folder it names now; for a sweep whose
    jobs train side by side by `train.parallel_jobs`, how many at once (None: as its launcher runs them); and
    whether the process that runs the launcher trains jobs itself (not only processes it starts, a cluster's)."""

    key: str
    folder: Path
    side_by_side: SideBySide | None = None
    trains_in_launcher: bool = True
    workers: int = 0  # the worker processes its launcher starts beside the one that runs it, where that one trains


def preflight(argv: list[str]) -> OutputFolder | None:
    """Raise ConfigError (or DataError) for the first job of `argv` that could not run; else say where it will write
    (None for Hydra's flags that only print something).

    A data set that is nowhere on disk is downloaded here, before any job starts: without network, that is the error.
    """
    started = CpuSample.now()  # the CPU other work uses meanwhile tells how many cores are idle for jobs side by side
    args = parse_hydra_args(argv)
    check_hydra_flags(args)
    if any(getattr(args, flag, None) for flag in _INFO_FLAGS):
        return None
    register()
    register_launchers()
    register_grid_sweeper()
    config_dir = Path(args.config_path).resolve() if args.config_path else conf_dir()
    config_name = args.config_name or "config"
    overrides = list(args.overrides)
    check_override_syntax(overrides)
    if args.config_path:
        load_saved_config(config_dir / (config_name if config_name.endswith(".yaml") else f"{config_name}.yaml"))
    if args.config_dir:
        overrides.append(f"hydra.searchpath=[file://{Path(args.config_dir).resolve()}]")
    if any("hparams_search" in override or "sweeper" in override for override in overrides):
        _check_no_old_optuna_sweeper()
    with initialize_config_dir(str(config_dir), version_base="1.3", job_name="rnn_sweep"):
        hydra_cfg = _compose(config_name, _fixed(overrides), return_hydra_config=True).hydra
        check_names_stay_inside(hydra_cfg)
        if args.multirun:
            check_scheduler(hydra_cfg.launcher)
        compose_job = _JobComposer(config_name, groups=set(hydra_cfg.runtime.choices))
        expanded = expand_jobs(overrides, args.multirun, hydra_cfg)
        jobs = [validate(compose_job(job_overrides)) for job_overrides in expanded]
        grid = args.multirun and str(hydra_cfg.sweeper.get("_target_", "")) in GRID_SWEEPERS
        longest_first.expect(zip(expanded, jobs, strict=True) if grid else ())  # a race or search picks its own
        cores = available_cores()
        parallel = side_by_side(jobs, hydra_cfg, [override.key_or_group for override in _parse(overrides)], cores,
                                idle_cores(started, cores)) if args.multirun else None
        located: set[tuple[str, str | None]] = set()
        for typed in jobs:
            wanted = (typed.data.name, typed.data.path)
            if wanted not in located:
                if locate_data(typed.data.path, typed.data.name).kind == "download":
                    spec = DATA_SETS[typed.data.name]
                    stdout.print(f"{spec.title} not found locally: downloading {spec.download_url} "
                                 "into the Keras cache")
                    download_data(typed.data.name)
                located.add(wanted)
    if args.multirun:
        traits = launcher_traits(hydra_cfg.launcher)
        at_once = parallel.jobs if parallel else jobs_at_once(hydra_cfg.launcher, len(jobs), cores)
        in_launcher = parallel is not None or traits.launching_process_trains
        workers = at_once - 1 if in_launcher else 0  # one at a time (the basic launcher): none
        output = OutputFolder("hydra.sweep.dir", Path(hydra_cfg.sweep.dir), parallel, in_launcher, workers)
    else:
        output = OutputFolder("hydra.run.dir", Path(hydra_cfg.run.dir))
    _check_writable(output.folder)
    if args.multirun and hydra_cfg.sweeper.get("_target_") == SWEEPER_TARGET \
            and (output.folder.is_dir() or hydra_cfg.sweeper.storage):
        from rnn_sweep.search.study import study_name
        from rnn_sweep.search.study_storage import check_study

        # a damaged or lost study stops the search before any job
        check_study(hydra_cfg.sweeper, output.folder, study_name(hydra_cfg.sweeper))
    if not args.multirun and (reason := foreign_record(output.folder, typed)):
        raise ConfigError(reason)
    return output


def parse_hydra_args(argv: list[str]) -> argparse.Namespace:
    """Hydra's own command-line flags, with a usage error worded like every other error (one paragraph, exit 2)."""
    parser = get_args_parser()

    def error(message: str) -> None:
        raise ConfigError(f"{message[:1].upper()}{message[1:]}. `rnn-sweep --help` shows the usage.")

    parser.error = error  # type: ignore[method-assign]
    return parser.parse_args(argv)


def check_hydra_flags(args: argparse.Namespace) -> None:
    """Hydra's flags that Hydra itself would refuse with a traceback, or that rnn-sweep does not offer."""
    if args.shell_completion:
        raise ConfigError("rnn-sweep does not offer Hydra's shell completion (--shell-completion / -sc): its "
                          "subcommands and checks run before Hydra. `rnn-sweep --help` lists the groups and keys.")
    modes = [flag for flag, given in (("-m/--multirun", args.multirun), ("--cfg", args.cfg), ("--info", args.info))
             if given]
    if len(modes) > 1:
        raise ConfigError(f"{' and '.join(modes)} cannot be given together: -m runs a sweep, --cfg prints the "
                          "config (give it without -m), --info prints Hydra's information.")
    if args.resolve and not (args.cfg or args.help or args.hydra_help):
        raise ConfigError("--resolve only changes what --cfg or --help print: give it with one of them, e.g. "
                          "`rnn-sweep --cfg job --resolve`.")
    if args.config_dir and not Path(args.config_dir).is_dir():
        what = "is a file, not a folder" if Path(args.config_dir).exists() else "does not exist"
        raise ConfigError(f"--config-dir {args.config_dir} {what}. It names a folder of extra config groups "
                          "(e.g. DIR/model/mine.yaml, chosen with model=mine).")


def check_override_syntax(overrides: list[str]) -> None:
    """The mistakes Hydra's override grammar reports least readably: no `=`, or nothing before it."""
    for override in overrides:
        key, equals, _ = override.partition("=")
        if not equals and not override.startswith("~"):
            raise ConfigError(
                f"Cannot read the override {override!r}: it has no `=`. {_OVERRIDE_FORMS} `~key` removes a key."
            )
        if not key.lstrip("+~"):
            raise ConfigError(
                f"Cannot read the override {override!r}: nothing before `=` names a key. {_OVERRIDE_FORMS}"
            )


def load_saved_config(path: Path) -> DictConfig:
    """A config file given with --config-path (a run's saved .hydra/config.yaml), or a ConfigError naming it."""
    try:
        loaded = OmegaConf.load(path)
    except FileNotFoundError:
        raise ConfigError(f"No config file {path}. Give --config-path RUN/.hydra --config-name config, where RUN is a "
                          "run folder with a saved .hydra/config.yaml.") from None
    except Exception as error:  # YAML syntax errors, binary files, ...: whatever makes it unreadable
        reason = " ".join(str(error).split())[:300]
        raise ConfigError(f"Cannot read the saved config {path} ({type(error).__name__}: {reason}): it is damaged or "
                          "not a config rnn-sweep wrote. Restore it from a copy of the run folder.") from None
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"The saved config {path} holds a list, not a config (key: value lines); it is damaged or "
                          "not a config rnn-sweep wrote.")
    return loaded


def _check_no_old_optuna_sweeper() -> None:
    """hydra-optuna-sweeper registers the same `hydra/sweeper=optuna` and may win Hydra's plugin scan."""
    if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None:
        raise ConfigError(
            "hydra-optuna-sweeper (an older Optuna sweeper, pinned to optuna < 3) is installed beside rnn-sweep's "
            "own search sweeper and takes the same name, hydra/sweeper=optuna. Remove it and get Optuna >= 4: "
            "pip uninstall hydra-optuna-sweeper && pip install 'rnn-sweep[optuna]'."
        )


def _parse(overrides: list[str]) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as error:
        raise _unreadable(error) from None


def _fixed(overrides: list[str]) -> list[str]:
    """The overrides without sweeps, enough to read the Hydra settings (sweeper, output folders)."""
    return [o.input_line for o in _parse(overrides) if not o.is_sweep_override()]


def expand_jobs(overrides: list[str], multirun: bool, hydra_cfg: DictConfig) -> list[list[str]]:
    """Each job's overrides, expanded the way Hydra's basic sweeper will expand them."""
    if not multirun:
        return [overrides]
    sweeper = str(hydra_cfg.sweeper.get("_target_", ""))
    if sweeper == SWEEPER_TARGET:  # a search: every choice and both ends of every range must make a valid job
        return search_space(hydra_cfg.sweeper, task_overrides(overrides)).corner_jobs()
    if sweeper.endswith(".RaceSweeper"):  # a race: its keys, its baseline, then every setting of its grid (any seed)
        from rnn_sweep.sweep.race import check_race

        return check_race(hydra_cfg.sweeper, task_overrides(overrides)).settings
    if sweeper not in GRID_SWEEPERS:
        return [_fixed(overrides)]  # other sweepers choose values as they go
    params = hydra_cfg.sweeper.get("params") or {}
    lines = [f"{key}={value}" for key, value in params.items()] + overrides
    try:
        batches = BasicSweeper.split_arguments(_parse(lines), None)
    except HydraException as error:  # interval(...): only a search can draw from a continuous range
        drawn = " ".join(line for line in lines if "interval(" in line)
        raise ConfigError(f"{drawn or ' '.join(str(error).split())}: a grid sweep (-m) takes lists (a,b,c), "
                          "range(start,stop,step) and choice(...); interval(low,high) is a range for a search: add "
                          "+hparams_search=val_accuracy (docs/search.md).") from None
    return [list(job) for batch in batches for job in batch]


def sweep_size(hydra_cfg: DictConfig) -> int | None:
    """How many jobs the sweep launches: Optuna's n_trials, the size of the grid in multirun.yaml, or for a race the
    most it may launch (max_seeds per setting)."""
    if "n_trials" in hydra_cfg.sweeper:
        return int(hydra_cfg.sweeper.n_trials)
    try:
        multirun = Path(hydra_cfg.sweep.dir) / MULTIRUN_FILE
        stamp = multirun.stat()
        jobs = _grid_size(multirun, (stamp.st_ino, stamp.st_mtime_ns, stamp.st_size))
        return jobs * int(hydra_cfg.sweeper.max_seeds) if "max_seeds" in hydra_cfg.sweeper else jobs
    except Exception:  # progress is informative only; it must never stop a job
        return None


@functools.lru_cache(maxsize=4)
def _grid_size(multirun: Path, version: tuple[int, int, int]) -> int:
    """The number of jobs of multirun.yaml's grid, expanded once per process and `version` of the file (its inode,
    time and size), not once per job: every job of a sweep asks, so expanding each time costs the square of the
    sweep's size."""
    cfg = OmegaConf.load(multirun)
    return len(expand_jobs(list(cfg.hydra.overrides.task), True, cfg.hydra))


class _JobComposer:
    """Composes each job's config, calling Hydra once per distinct set of group choices.

    Hydra's compose takes a few tenths of a second and a sweep can have hundreds of jobs; plain `key=value`
    overrides are applied the way Hydra applies them (OmegaConf.update on the struct config) instead.
    """

    def __init__(self, config_name: str, groups: set[str]) -> None:
        self.config_name = config_name
        self.groups = groups
        self.parser = OverridesParser.create()
        self.composed: dict[tuple[str, ...], DictConfig] = {}

    def __call__(self, overrides: list[str]) -> DictConfig:
        parsed = self.parser.parse_overrides(overrides)
        plain = [override for override in parsed if self._is_plain_value(override)]
        structural = tuple(override.input_line for override in parsed if override not in plain)
        if structural not in self.composed:
            self.composed[structural] = _compose(self.config_name, list(structural))
        cfg = copy.deepcopy(self.composed[structural])
        for override in plain:
            try:
                OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
            except OmegaConfBaseException as error:
                raise explain_omegaconf_error(error, cfg) from None
        return cfg

    def _is_plain_value(self, override: Override) -> bool:
        key = override.key_or_group
        return (
            override.type == OverrideType.CHANGE
            and override.package is None
            and not override.is_sweep_override()
            and key not in self.groups
            and key.split(".")[0].split("/")[0] != "hydra"
        )


def _compose(config_name: str, overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    try:
        return compose(config_name, overrides=overrides, return_hydra_config=return_hydra_config)
    except MissingConfigException as error:
        raise _unknown_group_option(error) from None
    except OverrideParseException as error:
        raise _unreadable(error) from None
    except ConfigCompositionException as error:
        cause = error.__cause__
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
            raise explain_omegaconf_error(cause, _config_for_key_listing(config_name, overrides)) from None
        if isinstance(cause, OmegaConfBaseException):
            raise explain_omegaconf_error(cause) from None
        raise ConfigError(" ".join(str(error).split())) from None
    except (ValueError, TypeError) as error:  # Hydra's own checks of an override's shape
        raise ConfigError(f"Cannot apply the overrides {' '.join(overrides)}: {error}. {_OVERRIDE_FORMS}") from None
    except yaml.YAMLError as error:  # a broken YAML file of a group option (e.g. one in --config-dir)
        raise ConfigError(f"Cannot read a config file: {' '.join(str(error).split())}. Fix or remove that "
                          "file.") from None


def _unreadable(error: OverrideParseException) -> ConfigError:
    why = " ".join(str(error.message).split("See https")[0].split())
    return ConfigError(
        f"Cannot read the override {error.override!r}: {why}. Overrides look like "
        "`key=value` (e.g. model.units=64), `group=option` (e.g. model=gru) or, with -m, `key=a,b,c`."
    )


def _config_for_key_listing(config_name: str, overrides: list[str]) -> DictConfig | None:
    """The config the bad key was meant for (same group choices), to list the keys allowed there."""
    group_choices = [o for o in overrides if "." not in o.split("=", 1)[0]]
    for attempt in (group_choices, []):
        try:
            return compose(config_name, overrides=attempt)
        except ConfigCompositionException:
            continue
    return None


def _unknown_group_option(error: MissingConfigException) -> ConfigError:
    group, _, option = str(error.missing_cfg_file).rpartition("/")
    if group in GROUP_CHOICES:
        return unknown_option(group, option, GROUP_CHOICES[group][1])
    options = [name for name in (error.options or []) if name != "schema"]
    if group.startswith("hydra/launcher"):
        return ConfigError(
            f"Unknown launcher {option!r} (hydra/launcher={option}). Installed: {', '.join(options)}. "
            "Parallel and cluster launchers are optional extras: pip install 'rnn-sweep[joblib]' or "
            "'rnn-sweep[submitit]'."
        )
    if not group:
        return ConfigError(f"Config {option!r} not found. {' '.join(str(error).split()[:12])}")
    return ConfigError(
        f"Unknown {group} option {option!r}. Allowed: {', '.join(options) or '(none found)'}."
    )


def _check_writable(folder: Path) -> None:
    """The output folder must be creatable and writable, or every run would fail after training."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"Cannot write the output folder {folder}: {existing} is not a writable folder. Run from a folder "
            "you can write to, or choose another place with hydra.run.dir=... (hydra.sweep.dir=... with -m)."
        )


