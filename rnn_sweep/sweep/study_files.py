"""What a search leaves in its sweep folder beside the usual tables: optuna.csv, Optuna's plots, the best trial."""

from __future__ import annotations

import io
import shlex
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import optuna
from optuna.visualization import matplotlib as optuna_plots

from rnn_sweep import atomic
from rnn_sweep.console import stdout
from rnn_sweep.results.columns import lists_as_json
from rnn_sweep.sweep.study import JOB, OBJECTIVE, OVERRIDES, finished_trials

OPTUNA_CSV = "optuna.csv"
STUDY_PLOTS: dict[str, Callable[[optuna.Study], Any]] = {
    "optuna_history.png": optuna_plots.plot_optimization_history,
    "optuna_importances.png": optuna_plots.plot_param_importances,
    "optuna_parallel_coordinate.png": optuna_plots.plot_parallel_coordinate,
}
_CSV_ATTRS = ("number", "state", "value", "params", "user_attrs", "datetime_start", "duration")


def report_study(study: optuna.Study, sweep_dir: Path) -> None:
    """Write optuna.csv and the plots, then print the best trial and the command line that trains it alone."""
    frame = study.trials_dataframe(attrs=_CSV_ATTRS)
    atomic.write_text(sweep_dir / OPTUNA_CSV, lists_as_json(frame).to_csv(index=False))
    written = [name for name, plot in STUDY_PLOTS.items() if _write_plot(study, plot, sweep_dir / name)]
    finished = finished_trials(study)
    counts = {state: sum(trial.state.name == state for trial in finished) for state in ("COMPLETE", "PRUNED", "FAIL")}
    stdout.print(f"Optuna study {study.study_name!r}: {len(finished)} trials finished "
                 f"({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed); "
                 f"{sweep_dir / OPTUNA_CSV}, plots: {', '.join(written) or 'none (too few complete trials)'}")
    try:
        best = study.best_trial
    except ValueError:
        stdout.print("No trial completed, so there is no best trial.")
        return
    params = ", ".join(f"{name}={value}" for name, value in best.params.items())
    stdout.print(f"[bold]Best trial[/] {best.number} (job folder {sweep_dir / str(best.user_attrs[JOB])}): "
                 f"{OBJECTIVE} {best.value:.4f} with {params}")
    stdout.print("Train it alone: " + best_command(best), highlight=False, markup=False)


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
