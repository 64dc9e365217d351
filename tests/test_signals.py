"""Every way a command is stopped leaves a record: SIGINT and SIGTERM, whichever launcher runs the jobs, however
early the signal comes. Real processes, real signals, tiny real trainings."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers.cli import cli_env, communicate, run_cli, start_cli, start_cli_signalled_at, wait_for
from helpers.runs import SIGNAL_TINY as TINY
from test_faults import _record

from rnn_sweep.record.result_files import write_result
from rnn_sweep.report.sweep_report import write_sweep_report


def _epochs(history: Path) -> int:
    """Rows of a history.csv (0 before it exists)."""
    if not history.is_file():
        return 0
    with open(history, newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _one_error_line(stderr: str, expected: str) -> str:
    """The command said what happened in exactly one `error:` line, with no traceback."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], stderr[-4000:]
    assert "Traceback" not in stderr, stderr[-4000:]
    return lines[0]


def _jobs(sweep_dir: Path) -> pd.DataFrame:
    results = pd.read_csv(sweep_dir / "results.csv", dtype={"run_dir": str})
    return results.set_index("run_dir")


def _assert_interrupted_with_their_epochs(sweep_dir: Path, jobs: list[str], how: str) -> None:
    """The jobs are rows with status `interrupted`, the epochs of their history.csv, and how they were stopped."""
    results = _jobs(sweep_dir)
    for job in jobs:
        row = results.loc[job]
        assert row["status"] == "interrupted" and how in row["error"], row.to_dict()
        assert row["epochs_completed"] == _epochs(sweep_dir / job / "history.csv") >= 2
        assert json.loads((sweep_dir / job / "result.json").read_text())["status"] == "interrupted"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2],
                         ids=lambda signum: signal.Signals(signum).name)
def test_a_stop_signal_on_a_basic_sweep_marks_the_running_job_and_writes_the_tables(tmp_path, mnist_path, signum):
    """SIGTERM (`timeout`, schedulers), SIGHUP (a closed terminal or ssh session), SIGQUIT (Ctrl-\\), SIGUSR1/2 (a
    scheduler's warning): each ends the sweep as Ctrl-C does, with its own name and 128 + its number."""
    sweep_dir = tmp_path / "sweep"
    # Job 0 trains one epoch; job 1 (500 epochs) is the one the signal stops.
    process = start_cli("-m", *TINY, "train.epochs=1,500", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path,
                        data=mnist_path)
    wait_for(lambda: _epochs(sweep_dir / "1" / "history.csv") >= 2, process, "two epochs of job 1")
    process.send_signal(signum)  # to the launcher only, as `timeout`, schedulers and a closing terminal send it
    _, stderr = communicate(process, timeout=180)
    assert process.returncode == 128 + signum, stderr[-3000:]
    name = signal.Signals(signum).name
    _one_error_line(stderr, f"interrupted ({name}): the sweep {sweep_dir} stopped early")
    assert _jobs(sweep_dir).loc["0", "status"] == "ok"
    _assert_interrupted_with_their_epochs(sweep_dir, ["1"], name)
    assert (sweep_dir / "accuracy.csv").is_file() and (sweep_dir / "timing.csv").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(("launcher", "signum"), [("joblib", signal.SIGINT), ("submitit_local", signal.SIGTERM)])
def test_a_parallel_launcher_stopped_by_a_signal_leaves_interrupted_records_and_tables(
    tmp_path, mnist_path, launcher, signum
):
    pytest.importorskip({"joblib": "hydra_plugins.hydra_joblib_launcher",
                         "submitit_local": "hydra_plugins.hydra_submitit_launcher"}[launcher])
    sweep_dir = tmp_path / "sweep"
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else ["hydra.launcher.timeout_min=30"]
    process = start_cli("-m", f"hydra/launcher={launcher}", *extra, *TINY, "model.units=4,8", "train.epochs=500",
                        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, data=mnist_path)
    started = "0" if launcher == "submitit_local" else None  # submitit_local runs its jobs one after another
    jobs = [started] if started else ["0", "1"]
    wait_for(lambda: all(_epochs(sweep_dir / job / "history.csv") >= 2 for job in jobs), process,
             f"two epochs of job(s) {', '.join(jobs)}", timeout=400)
    if signum == signal.SIGINT:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground process group
    else:
        process.send_signal(signal.SIGTERM)  # the launcher only: it must stop its jobs itself
    _, stderr = communicate(process, timeout=240)
    assert process.returncode == 128 + signum, stderr[-3000:]
    name = signal.Signals(signum).name
    _one_error_line(stderr, f"interrupted ({name}): the sweep {sweep_dir} stopped early")
    _assert_interrupted_with_their_epochs(sweep_dir, jobs, "SIGINT" if signum == signal.SIGINT else "SIGTERM")


# Moments of start-up, each named by the module that begins to load then.
START_UP_MOMENTS = [
    ("hydra", signal.SIGTERM),  # before Hydra is imported
    ("hydra.core.config_store", signal.SIGINT),  # Hydra half-loaded: its package is cut short mid-import
    ("tensorflow.python.framework.ops", signal.SIGTERM),  # while TensorFlow loads, its start-up lines diverted
    ("rnn_sweep.train.runner", signal.SIGINT),  # as the run starts: its folder made, its config saved
]


@pytest.mark.slow
@pytest.mark.parametrize(("module", "signum"), START_UP_MOMENTS, ids=[module for module, _ in START_UP_MOMENTS])
def test_a_signal_at_any_moment_of_start_up_ends_in_one_line_and_its_exit_status(tmp_path, mnist_path, module, signum):
    """Before Hydra is imported, while it or TensorFlow loads, as the run starts: no traceback, no lost run."""
    process = start_cli_signalled_at(module, signum, *TINY, "train.epochs=500", cwd=tmp_path, data=mnist_path)
    stdout, stderr = communicate(process, timeout=180)
    assert f"signal sent as {module} began to load" in stdout, stdout[-2000:]
    assert process.returncode == 128 + signum, stderr[-3000:]
    line = _one_error_line(stderr, f"interrupted ({signal.Signals(signum).name})")
    runs = list((tmp_path / "outputs" / "runs").glob("*")) if (tmp_path / "outputs" / "runs").is_dir() else []
    if "before any run started" in line:
        assert runs == [], "a run folder was left behind by a run that never started"
    else:
        (run_dir,) = runs
        record = json.loads((run_dir / "result.json").read_text())
        assert record["status"] == "interrupted" and record["epochs_completed"] == _epochs(run_dir / "history.csv")


# A stop that lands while a paused generator is freed: Python runs its `finally` then, where an exception cannot
# propagate and is dropped ("Exception ignored in ..."). The stop must still end the work.
SWALLOWED_STOP = """
import os, signal, sys, time
from rnn_sweep import stopping

def paused():
    try:
        yield
    finally:
        os.kill(os.getpid(), signal.SIGTERM)

stopping.install()
try:
    next(paused())  # the generator is freed at once, unfinished: its `finally` gets the signal
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(0.01)
    print("never stopped")
except KeyboardInterrupt:
    print(f"stopped by {stopping.signal_name()}")
"""


def test_a_stop_that_lands_where_python_drops_exceptions_still_stops_the_work(tmp_path):
    done = subprocess.run([sys.executable, "-c", SWALLOWED_STOP], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stdout.strip() == "stopped by SIGTERM", done.stdout + done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr


# Fits a tiny model again and again as a run fits it (stops_between_steps), each fit sent a SIGTERM the moment
# TensorFlow asks Python for the eager context's handle (its C++ does, while it makes a tensor) for the 1st, 2nd, ...
# 10th time in that fit. Raised there, the stop reached C++ that does not expect one: the process died (SIGSEGV).
# Then the same with SLURM's warning (SIGUSR2) and a handler of submitit's kind, one that raises an error of its own
# (rnn_sweep.cluster.slurm's SlurmTimeLimit): raised there, it came out as SystemError or crashed the job.
STOPS_INSIDE_TENSORFLOW = """
import os, signal, sys
import numpy as np
import keras
from rnn_sweep import stopping
from rnn_sweep.train.callbacks import stops_between_steps

class TimeLimit(Exception):
    pass

def submitits(signum, frame):
    raise TimeLimit("the job's time limit is near")

stopping.install()
signal.signal(signal.SIGUSR2, submitits)
stopping.hold_back_warnings()
rng = np.random.default_rng(0)
x, y = rng.random((512, 28, 28), dtype="float32"), keras.utils.to_categorical(rng.integers(0, 10, 512), 10)
layers = keras.layers
model = keras.Sequential([keras.Input((28, 28)), layers.SimpleRNN(8), layers.Dense(10, activation="softmax")])
model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=256, epochs=1, validation_split=0.2, verbose=0)  # traced once, as in a run's later epochs
handles = {"left": 0}

def at_handle(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "_handle" and frame.f_code.co_filename.endswith("context.py"):
        handles["left"] -= 1
        if handles["left"] == 0:
            sys.setprofile(None)
            os.kill(os.getpid(), sent)

moments = range(1, 11)
for sent, stop in ((signal.SIGTERM, KeyboardInterrupt), (signal.SIGUSR2, TimeLimit)):
    stopped = 0
    for moment in moments:
        stopping.received, handles["left"] = None, moment
        try:
            sys.setprofile(at_handle)
            with stops_between_steps() as between_steps:
                model.fit(x, y, batch_size=256, epochs=3, validation_split=0.2, verbose=0, callbacks=[between_steps])
        except stop:
            stopped += 1
        finally:
            sys.setprofile(None)
    print(f"{signal.Signals(sent).name} stopped {stopped} of {len(moments)} fits")
"""


@pytest.mark.slow
def test_a_stop_while_tensorflow_calls_into_python_waits_for_the_steps_end(tmp_path):
    done = subprocess.run([sys.executable, "-c", STOPS_INSIDE_TENSORFLOW], cwd=tmp_path, env=cli_env(None),
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert done.stdout.splitlines() == ["SIGTERM stopped 10 of 10 fits", "SIGUSR2 stopped 10 of 10 fits"], done.stdout


# A submitit job's process: submitit's handler for SLURM's warning is in place when the job installs our stops.
WARNING_IN_A_SUBMITIT_JOB = """
import os, signal
from rnn_sweep import stopping

def submitits(signum, frame):
    raise TimeoutError("the job's time limit is near")

signal.signal(signal.SIGUSR2, submitits)
stopping.install()
stopping.install()  # each job of a worker installs them: held back once, not twice
try:
    with stopping.deferred():
        os.kill(os.getpid(), signal.SIGUSR2)
        print("held back while deferred")
except TimeoutError as error:
    print(f"then raised: {error}")
try:
    os.kill(os.getpid(), signal.SIGUSR2)
    print("not raised")
except TimeoutError:
    print("raised at once outside")
"""


def test_a_submitit_jobs_warning_handler_waits_while_stops_wait_and_runs_at_once_elsewhere(tmp_path):
    env = {**os.environ, "SUBMITIT_EXECUTOR": "slurm"}
    done = subprocess.run([sys.executable, "-c", WARNING_IN_A_SUBMITIT_JOB], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.splitlines() == ["held back while deferred", "then raised: the job's time limit is near",
                                        "raised at once outside"], done.stdout + done.stderr


@pytest.mark.slow
def test_ctrl_c_during_report_leaves_every_file_of_one_report_and_says_so(tmp_path):
    """Stopped once results.csv is rewritten: the plots and the page are finished before it exits, never stale."""
    sweep_dir = tmp_path / "sweep"
    for job in range(60):  # enough rows that the plots and the page take a while after results.csv
        write_result(sweep_dir / str(job), _record(run_dir=str(sweep_dir / str(job)), units=4 + job, seed=job))
    write_sweep_report(sweep_dir)
    write_result(sweep_dir / "new", _record(run_dir=str(sweep_dir / "new"), units=9999))
    process = start_cli("report", str(sweep_dir), "--html", cwd=tmp_path)
    wait_for(lambda: "9999" in (sweep_dir / "results.csv").read_text(), process, "the new results.csv")
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = communicate(process, timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    _one_error_line(stderr, f"interrupted (SIGINT): `report` had rewritten the tables, plots and report.html of "
                            f"{sweep_dir} whole before it stopped.")
    assert "9999" in (sweep_dir / "report.html").read_text()
    assert not [path for path in sweep_dir.iterdir() if path.name.endswith(".tmp")]


@pytest.mark.slow
def test_ctrl_c_during_reproduce_says_what_its_new_folder_holds(tmp_path, mnist_path):
    original = tmp_path / "original"
    done = run_cli(*TINY, "train.epochs=1", f"hydra.run.dir={original}", cwd=tmp_path, data=mnist_path)
    assert done.returncode == 0, done.stderr[-3000:]
    new_dir = tmp_path / "again"
    process = start_cli("reproduce", str(original), "train.epochs=500", "--out", str(new_dir), cwd=tmp_path,
                        data=mnist_path)
    wait_for(lambda: _epochs(new_dir / "history.csv") >= 2, process, "two epochs of the new run")
    process.send_signal(signal.SIGTERM)  # to `reproduce` alone: it must stop its training itself
    _, stderr = communicate(process, timeout=180)
    assert process.returncode == 143, stderr[-3000:]
    record = json.loads((new_dir / "result.json").read_text())
    assert record["status"] == "interrupted" and record["epochs_completed"] >= 2
    line = [line for line in stderr.splitlines() if "`reproduce` stopped" in line]
    assert line == [f"error: interrupted (SIGTERM): `reproduce` stopped: {new_dir} holds the new run's record "
                    f"(status interrupted, {record['epochs_completed']} epoch(s) finished); nothing was compared."]
    assert "nothing was written" not in stderr and "Traceback" not in stderr
