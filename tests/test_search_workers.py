"""Several searches on one sweep folder, at once or one after the other, are workers of one study."""

from __future__ import annotations

import re
import signal
from contextlib import ExitStack
from pathlib import Path

import pytest
from helpers.cli import start_cli, wait_for
from helpers.postgres import postgres_server
from helpers.runs import SEARCH_DATA as TINY

from rnn_sweep.search.kill_points import KILL_AT
from rnn_sweep.search.study_storage import JOURNAL_FILE, SQLITE_FILE, open_storage

optuna = pytest.importorskip("optuna")
from rnn_sweep.search.space import search_space  # noqa: E402
from rnn_sweep.search.study import ask, distributions, open_study  # noqa: E402
from rnn_sweep.search.study_workers import study_lock, worker_slot  # noqa: E402

N_TRIALS = 4
SEARCH = ("-m", "+hparams_search=val_accuracy", "model.units=choice(4,8)", "train.batch_size=64", "train.epochs=1",
          *TINY, "data.limit_train=256", f"hydra.sweeper.n_trials={N_TRIALS}", "hydra.sweeper.pruner.name=none")


def _launched_jobs(output: str) -> list[int]:
    """The job numbers a search's launcher logged (`[HYDRA] <tab>#3 : model.units=8 ...`)."""
    return [int(number) for number in re.findall(r"\[HYDRA\] \t#(\d+) : ", output)]


def _first_trials_of_workers_opening_at_once(sweep_dir: Path, workers: int) -> list[dict]:
    """Each of `workers` workers opens the study of `+hparams_search=val_accuracy` on `sweep_dir` (its journal file)
    as a search command does, all before any asks a trial; then each asks its first trial. Their parameters."""
    from hydra import compose, initialize_config_dir

    from rnn_sweep.config.paths import conf_dir
    from rnn_sweep.config.schema import register

    register()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        sweeper = compose("config", ["+hparams_search=val_accuracy"], return_hydra_config=True).hydra.sweeper
    space = search_space(sweeper, [])
    with ExitStack() as held:
        studies = []
        for _ in range(workers):
            worker = held.enter_context(worker_slot(sweep_dir))
            with study_lock(sweep_dir):
                studies.append(open_study(sweeper, sweep_dir, space, worker))
        return [ask(study, space, distributions(space))[0].params for study in studies]


def test_workers_that_open_one_study_at_once_ask_different_trials_and_the_same_ones_again(tmp_path):
    """Two workers open the study at the same moment (no trial yet, one configured seed): their samplers propose
    different first trials; the same two workers on a fresh folder propose the same two again."""
    first = _first_trials_of_workers_opening_at_once(tmp_path / "a", workers=2)
    assert first[0] != first[1], first
    assert _first_trials_of_workers_opening_at_once(tmp_path / "b", workers=2) == first
    assert (tmp_path / "a" / JOURNAL_FILE).is_file()


@pytest.mark.slow
@pytest.mark.parametrize(("storage", "start"), [("journal", "together"), ("journal", "staggered"),
                                                ("postgresql", "together")])
def test_two_searches_on_one_folder_share_the_study_and_train_each_trial_once(tmp_path, mnist_path, storage, start):
    """Staggered: the second starts while the first trains its first trial, which it must not take for a dead one.
    postgresql: the study in a real PostgreSQL server (hydra.sweeper.storage=postgresql://...) that the test starts."""
    with ExitStack() as stack:
        url = stack.enter_context(postgres_server()) if storage == "postgresql" else None
        _two_searches(tmp_path, mnist_path, url, start)


def _two_searches(tmp_path: Path, mnist_path: str, url: str | None, start: str) -> None:
    sweep_dir = tmp_path / "search"
    args = (*SEARCH, f"hydra.sweep.dir={sweep_dir}", *([f"hydra.sweeper.storage={url}"] if url else []))
    first = start_cli(*args, cwd=tmp_path, data=mnist_path)
    if start == "staggered":
        wait_for(lambda: (sweep_dir / "0" / ".hydra").is_dir(), first, "the first search's first job")
    second = start_cli(*args, cwd=tmp_path, data=mnist_path)
    outputs = [process.communicate(timeout=900) for process in (first, second)]
    for process, (_, stderr) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]

    study = optuna.load_study(study_name="rnn_val_accuracy", storage=open_storage(url, sweep_dir))
    states = [trial.state.name for trial in study.trials]
    assert states == ["COMPLETE"] * N_TRIALS, states  # no trial failed, none trained beyond the target
    asked = [sorted(trial.params.items()) for trial in study.trials]
    assert len({str(params) for params in asked}) == N_TRIALS, asked  # two workers' samplers never ask alike
    assert sorted(trial.user_attrs["job"] for trial in study.trials) == list(range(N_TRIALS))
    launched = [_launched_jobs(stdout + stderr) for stdout, stderr in outputs]
    assert sorted(launched[0] + launched[1]) == list(range(N_TRIALS)), launched  # each job trained by one worker
    assert all(launched), launched  # both took part
    assert sorted(path.parent.name for path in Path(sweep_dir).glob("*/result.json")) == \
        [str(slot) for slot in range(N_TRIALS)]
    assert (sweep_dir / JOURNAL_FILE).exists() == (url is None) and not (sweep_dir / SQLITE_FILE).exists()


@pytest.mark.slow
def test_a_worker_killed_mid_search_leaves_its_trial_to_the_other_who_reaches_n_trials(tmp_path, mnist_path):
    """The first worker dies (SIGKILL) after its job's run ended but before telling the study; the second, still
    running, tells that trial from the job's record and the study reaches n_trials without a resume."""
    sweep_dir = tmp_path / "search"
    args = (*SEARCH, f"hydra.sweep.dir={sweep_dir}")
    first = start_cli(*args, cwd=tmp_path, data=mnist_path, env={KILL_AT: "recorded:0"})
    wait_for(lambda: (sweep_dir / "0" / ".hydra").is_dir(), first, "the first search's first job")
    second = start_cli(*args, cwd=tmp_path, data=mnist_path)
    first.communicate(timeout=900)
    _, stderr = second.communicate(timeout=900)
    assert first.returncode == -signal.SIGKILL and second.returncode == 0, stderr[-3000:]

    study = optuna.load_study(study_name="rnn_val_accuracy", storage=open_storage(None, sweep_dir))
    assert [trial.state.name for trial in study.trials] == ["COMPLETE"] * N_TRIALS
    assert sorted(trial.user_attrs["job"] for trial in study.trials) == list(range(N_TRIALS))
