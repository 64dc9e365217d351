"""Several searches on one sweep folder, at once or one after the other, are workers of one study: also as the
tasks of a SLURM job array (a cluster test: `bash scripts/local-slurm.sh up` starts a one-node cluster)."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from helpers.cli import cli_env, start_cli, wait_for
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


def _search_sweeper():
    """The sweeper config of `+hparams_search=val_accuracy`, as a search command composes it."""
    from hydra import compose, initialize_config_dir

    from rnn_sweep.config.paths import conf_dir
    from rnn_sweep.config.schema import register

    register()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return compose("config", ["+hparams_search=val_accuracy"], return_hydra_config=True).hydra.sweeper


def _studies_of_workers(sweep_dir: Path, workers: int) -> tuple[list, object]:
    """The study of `+hparams_search=val_accuracy` on `sweep_dir` (its journal file), opened by `workers` workers
    as search commands do, each with its worker number; and its search space."""
    sweeper = _search_sweeper()
    space = search_space(sweeper, [])
    studies = []
    for number in range(workers):
        with study_lock(sweep_dir):
            studies.append(open_study(sweeper, sweep_dir, space, number))
    return studies, space


def _first_trials_of_workers_opening_at_once(sweep_dir: Path, workers: int) -> list[dict]:
    """Each of `workers` workers opens the study on `sweep_dir` as a search command does, all before any asks a
    trial; then each asks its first trial. Their parameters."""
    sweeper = _search_sweeper()
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


def test_a_trial_its_worker_tells_while_another_settles_the_dead_ones_is_left_as_told(tmp_path):
    """Worker A tells its trial and lets go of its lock just after worker B read the trial as running and just
    before B looks whether A is alive: B finds the lock free and must not settle the trial a second time (Optuna
    refuses a finished trial's update, which ended B's search in a traceback)."""
    from rnn_sweep.search.study import JOB, STATUS, settle_orphans

    studies, space = _studies_of_workers(tmp_path / "search", workers=2)
    trial, _ = ask(studies[0], space, distributions(space))
    trial.set_user_attr(STATUS, "ok")  # A's run ended: a dead A's trial would be settled from this

    def a_tells_and_lets_go(slot: int) -> bool:
        assert slot == trial.user_attrs[JOB]
        studies[0].tell(trial, values=[0.5])
        return False

    settle_orphans(studies[1], tmp_path / "search", alive=a_tells_and_lets_go)
    (told,) = studies[1].get_trials()
    assert (told.state, told.values) == (optuna.trial.TrialState.COMPLETE, [0.5])


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
    _assert_the_workers_shared_one_study(sweep_dir, url, [stdout + stderr for stdout, stderr in outputs])


def _assert_the_workers_shared_one_study(sweep_dir: Path, url: str | None, outputs: list[str]) -> list[list[int]]:
    """The checks of workers that searched `sweep_dir` together (each worker's output in `outputs`): the study
    reached N_TRIALS, all complete and asked alike by none, each job trained by one worker, and every worker took
    part. The jobs each worker launched."""
    study = optuna.load_study(study_name="rnn_val_accuracy", storage=open_storage(url, sweep_dir))
    states = [trial.state.name for trial in study.trials]
    assert states == ["COMPLETE"] * N_TRIALS, states  # no trial failed, none trained beyond the target
    asked = [sorted(trial.params.items()) for trial in study.trials]
    assert len({str(params) for params in asked}) == N_TRIALS, asked  # two workers' samplers never ask alike
    assert sorted(trial.user_attrs["job"] for trial in study.trials) == list(range(N_TRIALS))
    launched = [_launched_jobs(output) for output in outputs]
    # Each job trained by one worker:
    assert sorted(job for jobs in launched for job in jobs) == list(range(N_TRIALS)), launched
    assert all(launched), launched  # every worker took part
    assert sorted(path.parent.name for path in Path(sweep_dir).glob("*/result.json")) == \
        [str(slot) for slot in range(N_TRIALS)]
    assert (sweep_dir / JOURNAL_FILE).exists() == (url is None) and not (sweep_dir / SQLITE_FILE).exists()
    return launched


# Each array task waits (at most this long) until the other is running too, so that on a cluster busy with other
# jobs the second task cannot start after the first has finished the study alone.
_TOGETHER_S = 300
_TASK_SCRIPT = """#!/bin/bash
touch "started-$SLURM_ARRAY_TASK_ID"
for _ in $(seq {polls}); do
    [ -e started-0 ] && [ -e started-1 ] && exec {command}
    sleep 0.2
done
echo "the other array task did not start within {seconds} s" >&2
exit 3
"""


@pytest.mark.slow
@pytest.mark.cluster
def test_a_slurm_job_array_of_two_searches_shares_the_study_and_trains_each_trial_once(tmp_path, slurm, mnist_path):
    """One `sbatch --array=0-1` job whose two tasks run the same search command on one sweep folder, as docs/search.md
    says to spread a search over a cluster: the checks of two searches started by hand, on the tasks' own output."""
    sweep_dir = tmp_path / "search"
    command = shlex.join([sys.executable, "-m", "rnn_sweep", *SEARCH, f"hydra.sweep.dir={sweep_dir}"])
    script = tmp_path / "search.sbatch"
    script.write_text(_TASK_SCRIPT.format(polls=_TOGETHER_S * 5, seconds=_TOGETHER_S, command=command))
    # One CPU and 2 GB a task, so that the one-node cluster of a 2-core machine runs both at once.
    sbatch = subprocess.Popen(
        ["sbatch", "--parsable", "--wait", "--array=0-1", "--cpus-per-task=1", "--mem=2G", "--time=20",
         "--job-name=rnn-sweep-search-workers", f"--chdir={tmp_path}", "--output=task-%a.out", "--error=task-%a.err",
         str(script)],
        cwd=tmp_path, env=cli_env(mnist_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    array_id = sbatch.stdout.readline().strip().split(";")[0]

    def task_output(task: int) -> str:
        return "".join(path.read_text() for path in (tmp_path / f"task-{task}.out", tmp_path / f"task-{task}.err")
                       if path.is_file())

    try:
        _, stderr = sbatch.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        subprocess.run(["scancel", array_id], check=False, timeout=60)
        sbatch.kill()
        pytest.fail(f"the array job {array_id} had not ended within 900 s; its tasks' output:\n"
                    f"{task_output(0)[-3000:]}\n{task_output(1)[-3000:]}")
    outputs = [task_output(task) for task in (0, 1)]
    assert sbatch.returncode == 0, f"{stderr}\n{outputs[0][-3000:]}\n{outputs[1][-3000:]}"
    assert array_id.isdigit(), array_id

    launched = _assert_the_workers_shared_one_study(sweep_dir, None, outputs)
    for task, jobs in enumerate(launched):  # each job's record names the array task that trained it
        for job in jobs:
            record = json.loads((sweep_dir / str(job) / "result.json").read_text())
            assert record["scheduler"] == "slurm" and record["slurm_job_id"] == f"{array_id}_{task}", record


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
