"""What a search leaves in its sweep folder beside the usual tables: optuna.csv, Optuna's plots,
optimization_results.yaml (as hydra-optuna-sweeper writes it), and the best trial, or for several objectives the
Pareto front (optuna_pareto.csv, its plot, a table on the terminal and on report.html)."""

from __future__ import annotations

import io
import shlex
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import optuna
import pandas as pd
from omegaconf import OmegaConf
from optuna.visualization import matplotlib as optuna_plots
from rich.table import Table

from rnn_sweep import atomic
from rnn_sweep.console import stdout
from rnn_sweep.record.columns import OPTUNA_CSV, OPTUNA_IMPORTANCES, PARETO_CSV, RESULTS_YAML, lists_as_json
from rnn_sweep.search.settings import DEFAULT_OBJECTIVE
from rnn_sweep.search.study import JOB, OVERRIDES, finished_trials

PARETO_PLOT = "optuna_pareto_front.png"
STUDY_PLOTS: dict[str, Callable[[optuna.Study], Any]] = {
    "optuna_history.png": optuna_plots.plot_optimization_history,
    OPTUNA_IMPORTANCES: optuna_plots.plot_param_importances,
    "optuna_parallel_coordinate.png": optuna_plots.plot_parallel_coordinate,
}
_CSV_ATTRS = ("number", "state", "value", "params", "user_attrs", "datetime_start", "duration")


def report_study(study: optuna.Study, sweep_dir: Path) -> None:
    """Write optuna.csv, the plots and optimization_results.yaml, then print the best trial and the command line
    that trains it alone (for several objectives: every trial on the Pareto front)."""
    frame = study.trials_dataframe(attrs=_CSV_ATTRS)
    atomic.write_text(sweep_dir / OPTUNA_CSV, lists_as_json(frame).to_csv(index=False))
    names = study.metric_names or [DEFAULT_OBJECTIVE]
    several = len(study.directions) > 1
    plots = {PARETO_PLOT: _pareto_plot(names)} if several else STUDY_PLOTS
    written = [name for name, plot in plots.items() if _write_plot(study, plot, sweep_dir / name)]
    finished = finished_trials(study)
    counts = {state: sum(trial.state.name == state for trial in finished) for state in ("COMPLETE", "PRUNED", "FAIL")}
    stdout.print(f"Optuna study {study.study_name!r}: {len(finished)} trials finished "
                 f"({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed); "
                 f"{sweep_dir / OPTUNA_CSV}, plots: {', '.join(written) or 'none (too few complete trials)'}")
    if not any(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials):
        stdout.print("No trial completed, so there is no best trial (and no optimization_results.yaml).")
        return
    _write_results_yaml(study, sweep_dir / RESULTS_YAML)
    if several:
        _report_pareto_front(study, names, sweep_dir)
        return
    best = study.best_trial
    params = ", ".join(f"{name}={value}" for name, value in best.params.items())
    stdout.print(f"[bold]Best trial[/] {best.number} (job folder {sweep_dir / str(best.user_attrs[JOB])}): "
                 f"{names[0]} {best.value:.4f} with {params}")
    stdout.print("Train it alone: " + best_command(best), highlight=False, markup=False)


def _write_results_yaml(study: optuna.Study, path: Path) -> None:
    """optimization_results.yaml in hydra-optuna-sweeper's form: name, best_params, best_value; with several
    objectives, name and solutions (the Pareto front's params and values)."""
    if len(study.directions) > 1:
        results: dict[str, Any] = {"name": "optuna", "solutions": [
            {"params": trial.params, "values": trial.values} for trial in study.best_trials]}
    else:
        results = {"name": "optuna", "best_params": study.best_trial.params, "best_value": study.best_trial.value}
    atomic.write_text(path, OmegaConf.to_yaml(OmegaConf.create(results)))


def pareto_front(study: optuna.Study, names: list[str]) -> pd.DataFrame:
    """The Pareto front's trials, one row each: trial, job folder, each objective, each param, the command line."""
    rows = [{"trial": trial.number, "job": trial.user_attrs[JOB],
             **dict(zip(names, trial.values, strict=True)), **trial.params, "command": best_command(trial)}
            for trial in sorted(study.best_trials, key=lambda trial: trial.values)]
    return pd.DataFrame(rows)


def _report_pareto_front(study: optuna.Study, names: list[str], sweep_dir: Path) -> None:
    front = pareto_front(study, names)
    atomic.write_text(sweep_dir / PARETO_CSV, front.to_csv(index=False))
    directions = ", ".join(f"{direction.name.lower()} {name}" for direction, name in zip(study.directions, names,
                                                                                          strict=True))
    table = Table(title=f"Pareto front ({directions}): {len(front)} trials no other beats on every objective")
    for column in ("trial", "job", *names, "command"):
        table.add_column(column, overflow="fold")
    for row in front.to_dict("records"):
        table.add_row(*(f"{row[name]:.4f}" if name in names else str(row[name])
                        for name in ("trial", "job", *names, "command")))
    stdout.print(table)
    stdout.print(f"Every trial of the front, with its params: {sweep_dir / PARETO_CSV}")


def _pareto_plot(names: list[str]) -> Callable[[optuna.Study], Any]:
    return lambda study: optuna_plots.plot_pareto_front(study, target_names=names)


def best_command(trial: optuna.trial.FrozenTrial) -> str:
    return " ".join(["rnn-sweep", *(shlex.quote(override) for override in trial.user_attrs[OVERRIDES])])


def _write_plot(study: optuna.Study, plot: Callable[[optuna.Study], Any], path: Path) -> bool:
    """Draw one of Optuna's matplotlib plots; False when the study cannot have it yet (e.g. importances need
    two complete trials)."""
    matplotlib.use("Agg")  # Optuna draws through pyplot; no display is needed or wanted
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        try:
            axes = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError):
            return False
    figure = axes.flat[0].figure if hasattr(axes, "flat") else axes.figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    atomic.write_bytes(path, buffer.getvalue())
    return True
