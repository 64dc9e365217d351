"""`rnn-sweep` and `python -m rnn_sweep`: subcommands by name, everything else goes to Hydra."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rnn_sweep.commands import SUBCOMMANDS
from rnn_sweep.config.paths import conf_dir
from rnn_sweep.console import print_error
from rnn_sweep.errors import UserError
from rnn_sweep.train.startup_logs import quiet_environment

if TYPE_CHECKING:
    from rnn_sweep.results.tables import SweepTables

_CONFIG_PATH_FLAGS = ("--config-path", "-cp")
# The settings of conf/config.yaml's `hydra:` section that a config without one must still get.
_HYDRA_SETTINGS = ("run.dir", "sweep.dir", "sweep.subdir", "job.name", "job.chdir")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        command = importlib.import_module(f"rnn_sweep.commands.{argv[0]}")
        try:
            sys.exit(command.main(argv[1:]))
        except UserError as error:
            print_error(str(error))
            sys.exit(error.exit_code)
    quiet_environment()  # before TensorFlow is imported; RNN_SWEEP_TF_LOGS=1 shows its logs
    try:
        from rnn_sweep.config.preflight import preflight
        from rnn_sweep.config.seeds import expand_seeds

        argv = _our_output_folders(_absolute_config_path(expand_seeds(argv)))
        preflight(argv)
    except UserError as error:
        print_error(str(error))
        sys.exit(error.exit_code)

    from rnn_sweep.app import train_app
    from rnn_sweep.sweep.callback import finished_sweeps, started_sweeps

    sys.argv = [sys.argv[0], *argv]
    try:
        train_app()
    except KeyboardInterrupt:
        # The run already wrote result.json (status `interrupted`) and its history; no traceback needed.
        _tables_of_interrupted_sweeps(started_sweeps, finished_sweeps)
        _exit_at_once(130)
    _exit_if_jobs_failed(finished_sweeps)


def _exit_at_once(code: int) -> None:
    """Leave without tearing the interpreter down: after Ctrl-C cut TensorFlow short, the teardown of its threads
    can hang or abort the process, and everything the interrupted work owes the user is already on disk."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _tables_of_interrupted_sweeps(started: list[Path], finished: list[SweepTables]) -> None:
    """Ctrl-C skips Hydra's on_multirun_end: write the tables of a sweep it cut short here, so its jobs are listed."""
    from rnn_sweep.sweep.callback import aggregate

    cut_short = [folder for folder in started if folder not in {tables.folder for tables in finished}]
    if not cut_short:
        print_error("interrupted: the run folder keeps the epochs finished so far, with status `interrupted`.")
    for sweep_dir in cut_short:
        try:
            results = aggregate(sweep_dir).results
        except KeyboardInterrupt:  # a second Ctrl-C: every table is written atomically, so none is left half-written
            results = None
        listed = "" if results is None else f"; {sweep_dir / 'results.csv'} lists the {len(results)} jobs that ran"
        print_error(f"interrupted: the sweep {sweep_dir} stopped early{listed}. Run the same command with "
                    f"hydra.sweep.dir={sweep_dir} to finish it: jobs already ok are skipped.")


def _exit_if_jobs_failed(sweeps: list[SweepTables]) -> None:
    """A sweep runs every job whatever happens to the others; its exit status then says if any did not end ok."""
    from rnn_sweep.results.columns import overrides_text
    from rnn_sweep.results.tables import failed_jobs

    for tables in sweeps:
        failed, missing = failed_jobs(tables.results), tables.missing()
        if not failed.empty or missing:
            named = [f"{row.run_dir} [{overrides_text(row.overrides)}] ({row.status}: {row.error})"
                     for row in failed.itertuples()]
            named += [f"{folder} ({why})" for folder, why in missing]
            jobs = len(tables.results) + len(missing)
            print_error(f"{len(named)} of {jobs} jobs of the sweep {tables.folder} did not end ok: {'; '.join(named)}")
            sys.exit(1)


def _absolute_config_path(argv: list[str]) -> list[str]:
    """Hydra reads a relative --config-path against its own source folder; users mean their current one."""
    fixed = list(argv)
    for index, arg in enumerate(fixed):
        flag, equals, value = arg.partition("=")
        if flag in _CONFIG_PATH_FLAGS and equals:
            fixed[index] = f"{flag}={Path(value).resolve()}"
        elif arg in _CONFIG_PATH_FLAGS and index + 1 < len(fixed):
            fixed[index + 1] = str(Path(fixed[index + 1]).resolve())
    return fixed


def _our_output_folders(argv: list[str]) -> list[str]:
    """Give a config without a `hydra:` section (a run's saved .hydra/config.yaml) our output folders.

    Hydra would otherwise write `rnn-sweep --config-path RUN/.hydra --config-name config` to its own
    outputs/<date>/<time>/; the patterns are read from conf/config.yaml, and the user's own
    `hydra.run.dir=...` (etc.) overrides still win.
    """
    from hydra._internal.utils import get_args_parser
    from omegaconf import OmegaConf

    args = get_args_parser().parse_args(argv)
    name = args.config_name or "config"
    config_file = Path(args.config_path or conf_dir()) / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not args.config_path or not config_file.is_file() or "hydra" in OmegaConf.load(config_file):
        return argv
    ours = OmegaConf.to_container(OmegaConf.load(conf_dir() / "config.yaml").hydra, resolve=False)
    given = {override.split("=", 1)[0].lstrip("+~") for override in args.overrides}
    added = []
    for dotted in _HYDRA_SETTINGS:
        section, key = dotted.split(".")
        if f"hydra.{dotted}" not in given:
            value = ours[section][key]
            # Strings are quoted, so Hydra's override grammar keeps nested interpolations (the job-folder resolver).
            added.append(f"hydra.{dotted}='{value}'" if isinstance(value, str) else f"hydra.{dotted}={value}")
    return [*argv, *added]
