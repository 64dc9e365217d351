"""`rnn-sweep` and `python -m rnn_sweep`: subcommands by name, everything else goes to Hydra.

Only light modules are imported at the top, so the signal handlers are in place within milliseconds of start:
Ctrl-C or any other stop signal at any moment ends in the same one-line message and exit status (128 + signal).
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rnn_sweep import stopping
from rnn_sweep.commands import SUBCOMMANDS
from rnn_sweep.config.overrides import parse_overrides
from rnn_sweep.errors import ConfigError, NoRoomForRecord, UserError
from rnn_sweep.launch.address_space import cap_blas_threads

if TYPE_CHECKING:
    from rnn_sweep.launch.preflight import OutputFolder
    from rnn_sweep.launch.supervisor import Ended, Orders

_CONFIG_PATH_FLAGS = ("--config-path", "-cp")
# The settings of conf/config.yaml's `hydra:` section that a config without one must still get.
_HYDRA_SETTINGS = ("run.dir", "sweep.dir", "sweep.subdir", "job.name", "job.chdir")


# The new run folder this command claimed for a single run (None for a sweep, or before it is claimed).
_claimed_run_dir: Path | None = None


# What a stopped command's clean-up (_after_interrupt) imports: loaded whole before any work, so that a stop signal
# raised in the middle of an import can never leave the clean-up a half-made package (Hydra's, imported again after
# such a cut, fails on its own circular imports).
_CLEAN_UP_MODULES = ("rnn_sweep.console", "rnn_sweep.sweep.stopped")


def main(argv: list[str] | None = None) -> None:
    cap_blas_threads()  # before numpy loads OpenBLAS
    stopping.install()
    try:
        with stopping.deferred():  # a stop meanwhile is raised once they are loaded
            for module in _CLEAN_UP_MODULES:
                importlib.import_module(module)
        sys.exit(run(list(sys.argv[1:] if argv is None else argv), own_process=True))
    except KeyboardInterrupt:
        _exit_at_once(_after_interrupt())
    except SystemExit as end:  # the command's end, or a run's own (rnn_sweep.launch.job): its last line is printed
        _said_all()
        if supervisor := sys.modules.get("rnn_sweep.launch.supervisor"):
            supervisor.end_now(end.code)
        raise


def _said_all() -> None:
    """In a training child (rnn_sweep.launch.supervisor): its last line is printed; the command says nothing more."""
    if supervisor := sys.modules.get("rnn_sweep.launch.supervisor"):
        supervisor.finished()


def run(argv: list[str], own_process: bool = False) -> int:
    """The command's exit status; a UserError is printed as one paragraph (exit 2). `own_process`: the command owns
    its process (the console script, `python -m rnn_sweep`), so it may train in a child it watches
    (rnn_sweep.launch.supervisor); a caller that embeds it keeps everything in its own process."""
    try:
        if "--version" in argv:  # Hydra's own --version would name only Hydra
            from rnn_sweep.versions import version_text

            print(version_text())
            return 0
        if argv and argv[0] in SUBCOMMANDS:
            return importlib.import_module(f"rnn_sweep.commands.{argv[0]}").main(argv[1:])
        return _launch_training(argv, own_process)
    except UserError as error:
        _print_error(str(error))
        return error.exit_code


def _launch_training(argv: list[str], own_process: bool) -> int:
    """Check the whole command (every job of a sweep) before anything trains, claim the output folder, then hand
    the command to Hydra, which runs rnn_sweep.launch.job for each job: in a child process watched by this one,
    where it can, so a crash of TensorFlow (under a memory limit) still ends with records, tables and a message.

    The child is forked first and loads TensorFlow on another core while this process checks the command (side by
    side, it trains one share of the jobs itself); where they turn out to train only in processes of a launcher's
    own (submitit's) or nowhere, it is ended and, for the former, a fresh one that has loaded nothing runs the
    launcher."""
    _refuse_unknown_command(argv)
    from rnn_sweep.launch import supervisor
    from rnn_sweep.sweep.claims import command_id
    from rnn_sweep.train.startup_logs import quiet_environment

    quiet_environment()  # before TensorFlow is imported; RNN_SWEEP_TF_LOGS=1 shows its logs
    early = None
    if own_process and _worth_warming(argv):
        command_id()  # the id this command's job processes inherit, so a stopped command can tell its own jobs
        early = supervisor.fork_trainer(_warm_up, _take_orders)
    if isinstance(early, supervisor.Orders):
        return _train(early.argv)
    try:
        argv, output = _check_and_claim(argv)
    except BaseException:
        if early is not None:
            early.dismiss()
        raise
    if early is not None and (output is None or not output.trains_in_launcher):
        early.dismiss()
        early = None
    command_id()  # where no trainer was forked with it: in this process, for the jobs it starts
    from rnn_sweep.launch.address_space import load_blas_while_there_is_room

    load_blas_while_there_is_room()  # under a memory limit, while there is room: before TensorFlow takes it
    if own_process and output is not None and supervisor.available():
        from rnn_sweep.sweep import longest_first

        trainer = early or supervisor.fork_trainer(on_orders=_take_orders)
        if isinstance(trainer, supervisor.Orders):
            return _train(trainer.argv)
        ended = trainer.train(supervisor.Orders(argv, None if _claimed_run_dir is None else str(_claimed_run_dir),
                                                longest_first.notes(), output.workers))
        sweep = output.key.startswith("hydra.sweep")
        return ended.code if ended.why is None else _after_trainer_ended(ended, output.folder.resolve(), sweep)
    return _train(argv)


# Hydra's flags that only print something: a command with one trains nothing, so no trainer is warmed for it.
_PRINT_ONLY_FLAGS = ("-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "-sc", "--shell-completion")


def _worth_warming(argv: list[str]) -> bool:
    """Whether a training child may load TensorFlow while the command checks itself: with a second core to do it
    on, outside an address-space limit (there OpenBLAS must load first, in the command: load_blas_while_there_is_room),
    for a command that may train."""
    from rnn_sweep.launch import supervisor
    from rnn_sweep.launch.address_space import limit_kb
    from rnn_sweep.train.device import available_cores

    return supervisor.available() and available_cores() >= 2 and limit_kb() is None \
        and not any(arg.partition("=")[0] in _PRINT_ONLY_FLAGS for arg in argv)


def _warm_up() -> None:
    """What a training child loads before its orders come: TensorFlow, then the modules that train with it."""
    from rnn_sweep.train.warm_up import load_training_code

    load_training_code("rnn_sweep.launch.job")


def _take_orders(orders: Orders) -> None:
    """In the training child, as its orders come (before a stop held back meanwhile is raised, so that its clean-up
    knows the folder claimed): what the command found in its check, and the worker processes that train jobs beside
    this one, each loading TensorFlow at once (the launcher gets the same pool when it starts, seconds later)."""
    global _claimed_run_dir
    from rnn_sweep.sweep import longest_first

    _claimed_run_dir = None if orders.run_dir is None else Path(orders.run_dir)
    longest_first.take_notes(orders.work)
    if orders.workers:
        from rnn_sweep.sweep.joblib_launcher import start_workers

        start_workers(orders.workers)


def _check_and_claim(argv: list[str]) -> tuple[list[str], OutputFolder | None]:
    """The command line Hydra gets once every job is checked and the output folder claimed, and that folder (None
    for Hydra's flags that only print something)."""
    global _claimed_run_dir
    from rnn_sweep.config.seeds import expand_seeds
    from rnn_sweep.launch.preflight import preflight

    argv = expand_seeds(argv)
    given = set(parse_overrides(argv))
    argv = _our_output_folders(_absolute_config_path(argv))
    from rnn_sweep.sweep.folders import claim_new_folder, override_value
    from rnn_sweep.sweep.resume import through_resolver

    output = preflight(argv)  # checks the folder names as typed, before they pass through the resolver
    argv = through_resolver(argv)  # a job folder named by hand is never one that holds another config's result
    if output is not None and output.key not in given:
        output = output._replace(folder=claim_new_folder(output.folder))
        argv = [arg for arg in argv if not arg.startswith(f"{output.key}=")]
        argv.append(f"{output.key}={override_value(output.folder)}")
    # else the user's own folder (e.g. `reproduce --out`): a stop still says what it holds
    if output is not None:
        _claimed_run_dir = None if output.key.startswith("hydra.sweep") else output.folder.resolve()
    if output is not None and output.side_by_side is not None:  # train.parallel_jobs: the joblib launcher
        from rnn_sweep.console import stdout

        argv = [*argv, *output.side_by_side.overrides()]
        stdout.print(output.side_by_side.line(), highlight=False, markup=False)
    return argv, output


def _train(argv: list[str]) -> int:
    """Run the checked command `argv` through Hydra in this process: the command's own, or its training child."""
    from rnn_sweep.launch import supervisor

    sys.argv = [sys.argv[0], *argv]
    try:
        from rnn_sweep.launch.job import train_app

        train_app()
        return _sweeps_exit_status()
    except NoRoomForRecord as stop:
        return _after_no_room(stop)
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - in a training child, its parent writes what the command owes
        supervisor.hand_over(error)
        raise


def _refuse_unknown_command(argv: list[str]) -> None:
    """A first word without `=` is a mistyped subcommand far more often than an override."""
    if not argv or argv[0].startswith(("-", "~", "+")) or "=" in argv[0]:
        return
    nearest = difflib.get_close_matches(argv[0], SUBCOMMANDS, n=1, cutoff=0.5)
    if not nearest and "." in argv[0]:
        return  # a key without its value: the override check says so
    hint = f"Did you mean `rnn-sweep {nearest[0]}`? " if nearest else ""
    raise ConfigError(
        f"Unknown command {argv[0]!r}. {hint}Commands: {', '.join(SUBCOMMANDS)}; anything else is a config "
        "override written key=value (e.g. model.units=64). `rnn-sweep --help` lists both."
    )


def _exit_at_once(code: int) -> None:
    """Leave without tearing the interpreter down: after Ctrl-C cut TensorFlow short, the teardown of its threads
    can hang or abort the process, and everything the interrupted work owes the user is already on disk."""
    sys.stdout.flush()
    sys.stderr.flush()
    _said_all()
    os._exit(code)


def _after_interrupt() -> int:
    """Save what a stopped command owes (records of its running jobs, tables of its sweeps), say so in one line."""
    started: list[Path] = []
    finished: set[Path] = set()
    if callback := sys.modules.get("rnn_sweep.sweep.callback"):  # not imported yet: no sweep had started
        started, finished = callback.started_sweeps, {tables.folder for tables in callback.finished_sweeps}
    from rnn_sweep.sweep.stopped import job_folders, save_running_jobs, save_started_run

    save_running_jobs([folder for sweep in started for folder in job_folders(sweep)])
    run_dir = _claimed_run_dir
    how = f"interrupted ({stopping.signal_name()})"
    if stopping.written is not None:  # a subcommand said what it had written
        _print_error(f"{how}: {stopping.written}")
    elif started:
        lines = [_sweep_tables_line(sweep, rewrite=sweep not in finished) for sweep in started]
        _print_error(f"{how}: " + " ".join(lines))
    elif run_dir is not None and save_started_run(run_dir):
        _print_error(f"{how}: the run folder {run_dir} keeps the epochs finished so far, with status `interrupted`.")
    else:
        _print_error(f"{how} before any run started; nothing was written.")
    return stopping.exit_code()


def _after_no_room(stop: NoRoomForRecord) -> int:
    """A job found no room even for its record: write the tables of the sweeps this command started, where they
    fit, and say in one line what happened and how to finish (exit 1, as for any job that did not end ok)."""
    started: list[Path] = []
    if callback := sys.modules.get("rnn_sweep.sweep.callback"):
        started = callback.started_sweeps
    lines = [_sweep_tables_line(sweep, rewrite=True) for sweep in started] or ["make room and run it again."]
    _print_error(f"{stop}: {' '.join(lines)}")
    return 1


def _after_trainer_ended(ended: Ended, folder: Path, sweep: bool) -> int:
    """The training process ended before its command did (killed by a signal nobody sent it through this command, an
    error it handed over, an exit of its own): give the jobs it left without a record their `failed` one, write a
    sweep's tables, and say so in one line (exit 1, as for any job that did not end ok)."""
    from rnn_sweep.launch.supervisor import record_crash
    from rnn_sweep.record.columns import MULTIRUN_FILE

    reason = ended.why
    recorded = record_crash(folder, reason)
    said = [f"{job} holds its `failed` record" for job in recorded]
    if sweep and (folder / MULTIRUN_FILE).is_file():
        said.append(_sweep_tables_line(folder, rewrite=True, counted="failed"))
    line = "; ".join([reason, *(said or ["no run had started, so nothing was written"])])
    _print_error(line if line.endswith(".") else f"{line}.")
    return 1


def _sweep_tables_line(sweep_dir: Path, rewrite: bool, counted: str = "interrupted") -> str:
    from rnn_sweep.sweep.callback import aggregate

    try:
        results = aggregate(sweep_dir).results if rewrite else None
    except Exception as error:  # noqa: BLE001 - a command that stops says why, never in a traceback
        listed = f" and its tables could not be written ({error or type(error).__name__})"
    else:
        listed = "" if results is None or results.empty else (
            f"; {sweep_dir / 'results.csv'} lists the {len(results)} jobs that ran "
            f"({int((results['status'] == counted).sum())} {counted})")
    return (f"the sweep {sweep_dir} stopped early{listed}. Run the same command with hydra.sweep.dir={sweep_dir} to "
            "finish it: jobs already ok are skipped.")


def _sweeps_exit_status() -> int:
    """A sweep runs every job whatever happens to the others; its exit status then says if any did not end ok,
    if a result.json was damaged, or if its tables could not be written."""
    from rnn_sweep.config.overrides import overrides_text
    from rnn_sweep.launch.address_space import lack_of_memory
    from rnn_sweep.launch.supervisor import hand_over
    from rnn_sweep.sweep.callback import aggregation_errors, finished_sweeps

    code = 0
    for sweep_dir, error in aggregation_errors.items():
        if lack_of_memory(error):  # in a training child, its room taken by TensorFlow: its parent has room
            hand_over(error)
        _print_error(f"the tables of the sweep {sweep_dir} could not be written: {type(error).__name__}: {error}")
        code = 1
    for tables in finished_sweeps:
        from rnn_sweep.report.tables import failed_jobs  # a sweep's tables imported it already; a run never needs it

        failed, missing = failed_jobs(tables.results), tables.missing()
        if not failed.empty or missing:
            named = [f"{tables.folder / str(row.run_dir)} [{overrides_text(row.overrides)}] "
                     f"({row.status}: {row.error})" for row in failed.itertuples()]
            named += [f"{folder} ({why})" for folder, why in missing]
            jobs = len(tables.results) + len(missing)
            _print_error(f"{len(named)} of {jobs} jobs of the sweep {tables.folder} did not end ok: {'; '.join(named)}")
            code = 1
    return code


def _print_error(message: str) -> None:
    from rnn_sweep.console import print_error

    print_error(message)


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
    from omegaconf import OmegaConf

    from rnn_sweep.config.paths import conf_dir
    from rnn_sweep.launch.preflight import load_saved_config, parse_hydra_args

    args = parse_hydra_args(argv)
    name = args.config_name or "config"
    config_file = Path(args.config_path or conf_dir()) / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not args.config_path or not config_file.is_file() or "hydra" in load_saved_config(config_file):
        return argv
    ours = OmegaConf.to_container(OmegaConf.load(conf_dir() / "config.yaml").hydra, resolve=False)
    given = set(parse_overrides(args.overrides))
    added = []
    for dotted in _HYDRA_SETTINGS:
        section, key = dotted.split(".")
        if f"hydra.{dotted}" not in given:
            value = ours[section][key]
            # Strings are quoted, so Hydra's override grammar keeps nested interpolations (the job-folder resolver).
            added.append(f"hydra.{dotted}='{value}'" if isinstance(value, str) else f"hydra.{dotted}={value}")
    return [*argv, *added]
