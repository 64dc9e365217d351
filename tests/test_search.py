"""The Optuna search sweeper through the real CLI: a real study in its journal, resumed after a kill, pruning, files."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers.cli import run_cli
from helpers.runs import SEARCH_DATA as TINY
from omegaconf import OmegaConf

from rnn_sweep.search.kill_points import KILL_AT, POINTS
from rnn_sweep.search.study_storage import JOURNAL_FILE, SQLITE_FILE, open_storage

optuna = pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parents[1]
SEARCH = ("-m", "+hparams_search=val_accuracy", "model.units=choice(4,8)", "train.batch_size=64", *TINY)

_IMPORT_PROBE = """
import sys
from rnn_sweep.cli import main
try:
    main(sys.argv[1:])
finally:
    print("OPTUNA-IMPORTED" if "optuna" in sys.modules else "OPTUNA-NOT-IMPORTED")
"""


def _study(sweep_dir: Path, name: str = "rnn_val_accuracy") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(None, sweep_dir))


def _states(study: optuna.Study) -> list[str]:
    return [trial.state.name for trial in study.trials]


def _results_written(sweep_dir: Path) -> list[Path]:
    return sorted(sweep_dir.glob("*/result.json"))


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_a_killed_search_resumes_to_n_trials_in_all(tmp_path, mnist_path, point):
    """Killed (SIGKILL) at each named point of job 1's trial, the search resumes: no ok run is lost or trained
    again, a run that never ended is asked again with the same parameters, and n_trials end complete."""
    sweep_dir = tmp_path / "search"
    args = (*SEARCH, "train.epochs=1", "data.limit_train=256", "hydra.sweeper.n_trials=3",
            "hydra.sweeper.pruner.name=none", f"hydra.sweep.dir={sweep_dir}")
    killed = run_cli(*args, cwd=tmp_path, data=mnist_path, env={KILL_AT: f"{point}:1"})
    assert killed.returncode == -signal.SIGKILL, f"not killed at {point}: exit {killed.returncode}, " \
        f"{killed.stderr[-3000:]}"
    (victim,) = [trial for trial in _study(sweep_dir).trials if trial.user_attrs.get("job") == 1]
    assert victim.state.name == ("COMPLETE" if point == "told" else "RUNNING")
    before = {path: path.read_bytes() for path in _results_written(sweep_dir)}
    assert sorted(path.parent.name for path in before) == (["0"] if point == "asked" else ["0", "1"])

    again = run_cli(*args, cwd=tmp_path, data=mnist_path)
    assert again.returncode == 0, again.stderr[-3000:]
    study = _study(sweep_dir)
    states = _states(study)
    assert states.count("COMPLETE") == 3 and "RUNNING" not in states, states
    assert len(states) == (4 if point == "asked" else 3), states  # only a run that never ended is asked again
    assert {path: path.read_bytes() for path in before} == before  # the finished runs were not trained again
    (again_asked,) = [trial for trial in study.trials if trial.user_attrs.get("job") == 1 and trial.state.name ==
                      "COMPLETE"]
    assert again_asked.params == victim.params
    for path in _results_written(sweep_dir):  # every ok run is a complete trial with its value
        record = json.loads(path.read_text())
        assert record["status"] == "ok"
        (trial,) = [trial for trial in study.trials if trial.user_attrs.get("job") == int(path.parent.name) and
                    trial.state.name == "COMPLETE"]
        assert trial.value == pytest.approx(record["best_val_accuracy"])
    results = pd.read_csv(sweep_dir / "results.csv")
    assert len(results) == 3 and (results["status"] == "ok").all()
    assert sorted(path.parent.name for path in _results_written(sweep_dir)) == ["0", "1", "2"]

    best = study.best_trial
    best_dir = sweep_dir / str(best.user_attrs["job"])
    assert json.loads((best_dir / "result.json").read_text())["best_val_accuracy"] == pytest.approx(best.value)
    command = next(line for line in again.stdout.splitlines() if line.startswith("Train it alone: "))
    typed = shlex.split(command.removeprefix("Train it alone: "))
    assert typed == ["rnn-sweep", *OmegaConf.load(best_dir / ".hydra" / "overrides.yaml")]
    optuna_csv = pd.read_csv(sweep_dir / "optuna.csv")
    assert len(optuna_csv) == len(states)
    assert {"value_best_val_accuracy", "state", "params_optimizer.learning_rate"} <= set(optuna_csv)
    for plot in ("optuna_history.png", "optuna_importances.png", "optuna_parallel_coordinate.png"):
        assert (sweep_dir / plot).read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_a_new_search_keeps_its_study_in_a_journal_and_an_old_sqlite_study_resumes(tmp_path, mnist_path):
    """The journal file holds on NFS, where sqlite's locks do not; folders that hold an optuna.db keep using it."""
    args = (*SEARCH, "train.epochs=1", "data.limit_train=256", "hydra.sweeper.pruner.name=none")
    new, old = tmp_path / "new", tmp_path / "old"
    first = run_cli(*args, "hydra.sweeper.n_trials=1", f"hydra.sweep.dir={new}", cwd=tmp_path, data=mnist_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (new / JOURNAL_FILE).stat().st_size > 0 and not (new / SQLITE_FILE).exists()
    assert _states(_study(new)) == ["COMPLETE"]

    old.mkdir()  # a sweep folder of an older version: its study in optuna.db
    made = run_cli(*args, "hydra.sweeper.n_trials=1", f"hydra.sweeper.storage=sqlite:///{old / SQLITE_FILE}",
                   f"hydra.sweep.dir={old}", cwd=tmp_path, data=mnist_path)
    assert made.returncode == 0, made.stderr[-3000:]
    resumed = run_cli(*args, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={old}", cwd=tmp_path, data=mnist_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not (old / JOURNAL_FILE).exists() and _states(_study(old)) == ["COMPLETE", "COMPLETE"]
    assert sorted(path.parent.name for path in _results_written(old)) == ["0", "1"]


@pytest.mark.slow
def test_a_parallel_search_prunes_hopeless_trials_and_logs_hparams(tmp_path, mnist_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    sweep_dir = tmp_path / "search"
    # SGD over seven decades of learning rate: the low half cannot learn in three epochs, and is pruned.
    result = run_cli(*SEARCH, "model=gru", "optimizer=sgd", "optimizer.learning_rate=tag(log,interval(1e-7,1e-1))",
                     "train.epochs=3", "train.tensorboard=true", "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2",
                     "hydra.sweeper.pruner.n_startup_trials=2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                     f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = pd.read_csv(sweep_dir / "results.csv")
    pruned = results[results["status"] == "pruned"]
    assert len(results) == 6 and set(results["status"]) <= {"ok", "pruned"} and len(pruned) >= 1
    assert (pruned["epochs_completed"] < 3).all() and pruned["last_val_accuracy"].notna().all()
    assert _states(_study(sweep_dir)).count("PRUNED") == len(pruned)

    experiment = EventAccumulator(str(sweep_dir / "tensorboard"))  # the sweep's HParams view
    experiment.Reload()
    assert metadata.EXPERIMENT_TAG in experiment.PluginTagToContent(metadata.PLUGIN_NAME)
    runs = sorted(path for path in (sweep_dir / "tensorboard").iterdir() if path.is_dir())  # one per job
    assert len(runs) == len(results)
    session = EventAccumulator(str(runs[0]))
    session.Reload()
    start = metadata.parse_session_start_info_plugin_data(
        session.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.SESSION_START_INFO_TAG])
    assert start.hparams["cell"].string_value == "gru" and "seed" not in start.hparams
    rate = start.hparams["learning_rate"].number_value
    assert any(rate == pytest.approx(value) for value in results["learning_rate"])
    assert {"best_val_accuracy", "epoch_seconds"} <= set(session.Tags()["tensors"])


@pytest.mark.slow
@pytest.mark.parametrize(("space", "named"), [
    (("model.unitz=choice(4,8)",), "model.unitz"),
    (("optimizer.learning_rate=interval(0.1,0.01)",), "above its high end"),
    (("optimizer.learning_rate=tag(log,interval(0,0.1))",), "low end above 0"),
    (("+hparams_search=empty",), "empty choice"),
])
def test_a_bad_search_space_exits_2_before_any_trial(tmp_path, space, named):
    (tmp_path / "hparams_search").mkdir()
    (tmp_path / "hparams_search" / "empty.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /hydra/sweeper: optuna\n"
        "hydra:\n  sweeper:\n    params:\n      model.units: choice()\n"
    )
    base = () if space[0].startswith("+") else ("+hparams_search=val_accuracy",)
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, "-m", f"--config-dir={tmp_path}", *base, *space],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2 and named in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_plain_runs_and_compare_never_import_optuna(tmp_path, mnist_path):
    run = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, "model.units=4", "train.epochs=1", *TINY, "hydra.run.dir=run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "RNN_SWEEP_DATA": mnist_path},
    )
    assert run.returncode == 0 and "OPTUNA-NOT-IMPORTED" in run.stdout, run.stderr[-2000:]
    compare = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, "compare", "run", "run"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert compare.returncode in (0, 1) and "OPTUNA-NOT-IMPORTED" in compare.stdout, compare.stderr[-2000:]


@pytest.mark.slow
def test_hydra_finds_the_sweeper_in_an_installed_wheel_without_importing_optuna(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "rnn_sweep", "conf", "hydra_plugins"):
        copy = subprocess.run(["cp", "-r", str(ROOT / name), str(source / name)], check=False)
        assert copy.returncode == 0
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("rnn_sweep-*.whl")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                                str(tmp_path / "site"), str(wheel)], capture_output=True, text=True, check=False)
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert not (tmp_path / "site" / "hydra_plugins" / "__init__.py").exists()  # a namespace shared with others
    probe = (
        "import sys\n"
        "from hydra.core.config_store import ConfigStore\n"
        "from hydra.core.plugins import Plugins\n"
        "from hydra.plugins.sweeper import Sweeper\n"
        "sweeper, = [c for c in Plugins.instance().discover(Sweeper) if c.__name__ == 'OptunaSweeper']\n"
        "print(sys.modules[sweeper.__module__].__file__)\n"
        "print(ConfigStore.instance().load('hydra/sweeper/optuna.yaml').node._target_)\n"
        "print('optuna' in sys.modules)\n"
    )
    found = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False,
                           env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    assert found.returncode == 0, found.stderr[-2000:]
    module_file, target, imported = found.stdout.split()
    assert Path(module_file).is_relative_to(tmp_path / "site") and target.endswith("OptunaSweeper")
    assert imported == "False"
