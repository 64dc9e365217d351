"""Faults caused for real: signals to real processes, damaged files, and every kind of bad override."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers.cli import cli_env, communicate, run_cli, start_cli, wait_for, wait_until
from helpers.fuzz import examples
from helpers.runs import FAULTS_TINY as TINY
from helpers.runs import TINY as SHARED_TINY
from helpers.runs import TWO_SWEEPS_GRID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from places import fill_up, immutable, inodes_only, remount, tmpfs

from rnn_sweep.data.loading import IDX_STEMS
from rnn_sweep.errors import UserError
from rnn_sweep.launch.preflight import preflight
from rnn_sweep.record.columns import COLUMNS, CONTRACT_COLUMNS, SWEEP_TIMING_FILE
from rnn_sweep.record.result_files import write_result
from rnn_sweep.report.plots import CURVES_PLOT
from rnn_sweep.report.sweep_report import write_sweep_report
from rnn_sweep.sweep.claims import holder

# Tiny real jobs: a few seconds each, most of it TensorFlow's tracing.

# Keys a user might type, misspellings and keys of another optimizer included.
KEYS = [
    "model.units", "model.unitz", "model.activation", "model.dropout", "model.recurrent_dropout", "model.cell",
    "optimizer.learning_rate", "optimizer.momentum", "optimizer.beta_1", "optimizer.rho", "optimizer.clipnorm",
    "train.batch_size", "train.epochs", "train.validation_split", "train.device", "train.shuffle",
    "train.max_loss", "data.limit_train", "data.limit_test", "seed", "sed", "train.batchsize",
]
GROUPS = {"model": ["simple_rnn", "lstm", "gru", "transformer", "LSTM"], "optimizer": ["adam", "sgd", "rmsprop",
          "adamw", "adagrad"]}
VALUES = st.one_of(
    st.integers(-5, 300).map(str),
    st.floats(-2, 2, allow_nan=False).map(lambda x: f"{x:.3g}"),
    st.sampled_from(["true", "false", "null", "abc", "tanh", "relu", "1e-3", "0", "1", "cpu", "tpu", ""]),
)
OVERRIDE = st.one_of(
    st.tuples(st.sampled_from(KEYS), VALUES).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.sampled_from(sorted(GROUPS)).flatmap(lambda g: st.sampled_from(GROUPS[g]).map(lambda o: f"{g}={o}")),
)


@pytest.mark.slow
@settings(
    max_examples=examples(50), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(overrides=st.lists(OVERRIDE, max_size=4))
def test_any_override_validates_or_fails_with_a_user_error(overrides, tmp_path_factory, monkeypatch):
    """Every command line either validates or fails with a UserError (exit 2, one paragraph); nothing else."""
    monkeypatch.chdir(tmp_path_factory.getbasetemp())
    monkeypatch.setenv("RNN_SWEEP_DATA", str(tmp_path_factory.getbasetemp()))  # exists; contents not needed
    try:
        preflight(overrides)
    except UserError as error:
        message = str(error)
        assert "\n" not in message.strip() and len(message) < 1200
        assert "Traceback" not in message


# Hydra's app itself, without the command's check of every job first: what a job meets when a value reaches it
# unchecked (a search's combination of values, a sweeper that draws its values as it goes).
_APP_UNCHECKED = """
import sys
from rnn_sweep.launch.job import train_app
try:
    train_app()
finally:
    print("TENSORFLOW-IMPORTED" if "tensorflow" in sys.modules else "TENSORFLOW-NOT-IMPORTED")
"""


@pytest.mark.slow
def test_a_job_whose_config_validation_refuses_is_a_failed_row_naming_its_settings(tmp_path):
    """Each such job ends `failed` with the reason in a row that names its settings and its identity; the same
    sweep run again keeps each in its folder and its one row."""
    sweep_dir = tmp_path / "sweep"
    grid = ["-m", "model=gru", "model.units=0,-3", "optimizer.learning_rate=0.5", f"hydra.sweep.dir={sweep_dir}"]
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", _APP_UNCHECKED, *grid], cwd=tmp_path, env=cli_env(None),
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
        assert "TENSORFLOW-NOT-IMPORTED" in result.stdout
    rows = _jobs(sweep_dir).sort_index()
    assert list(rows.index) == ["0", "1"] and (rows["status"] == "failed").all()
    assert rows["units"].tolist() == [0, -3] and (rows["cell"] == "gru").all()
    assert (rows["learning_rate"] == 0.5).all() and (rows["seed"] == 42).all() and (rows["data"] == "mnist").all()
    assert [error.split(": it must")[0] for error in rows["error"]] == \
        ["ConfigError: Invalid value model.units=0", "ConfigError: Invalid value model.units=-3"]
    assert rows["config_hash"].notna().all() and rows["config_hash"].is_unique


def test_output_folder_that_cannot_be_created_fails_before_training(tmp_path, mnist_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(f"hydra.run.dir={blocker}/run", cwd=tmp_path, data=mnist_path)
    assert result.returncode == 2
    assert str(blocker) in result.stderr and "hydra.run.dir" in result.stderr
    assert "Traceback" not in result.stderr


def test_read_only_output_folder_fails_before_training(tmp_path, mnist_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    with immutable(locked):
        result = run_cli(f"hydra.run.dir={locked}/run", cwd=tmp_path, data=mnist_path)
    _one_paragraph_error(result)
    assert str(locked) in result.stderr and not any(locked.iterdir())


@pytest.mark.slow  # the job loads TensorFlow before it reads the data
def test_corrupt_gzip_fails_naming_the_file_before_training(tmp_path, mnist_path):
    data = tmp_path / "mnist"
    data.mkdir()
    source = Path(mnist_path)
    if source.is_file():
        pytest.skip("needs the IDX files, not an npz")
    for stem in IDX_STEMS.values():
        (data / f"{stem}.gz").symlink_to(source / f"{stem}.gz")
    labels = data / "train-labels-idx1-ubyte.gz"
    labels.unlink()
    labels.write_bytes((source / "train-labels-idx1-ubyte.gz").read_bytes()[:4000])  # truncated mid-stream
    result = run_cli("train.epochs=1", f"data.path={data}", cwd=tmp_path)
    assert result.returncode != 0
    assert "train-labels-idx1-ubyte.gz" in result.stderr and "Traceback" not in result.stderr
    (run_dir,) = (tmp_path / "outputs" / "runs").iterdir()
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "failed" and "train-labels-idx1-ubyte.gz" in record["error"]
    assert not (run_dir / "history.csv").exists()


@pytest.mark.slow
def test_ctrl_c_during_a_run_keeps_finished_epochs(tmp_path, mnist_path):
    process = start_cli("model=simple_rnn", "model.units=8", "train.epochs=500", "train.batch_size=256",
                        "data.limit_train=600", "data.limit_test=100", "train.tensorboard=true",
                        cwd=tmp_path, data=mnist_path)

    def two_epochs_written() -> Path | None:
        found = list(tmp_path.glob("outputs/runs/*/history.csv"))
        return found[0] if found and len(found[0].read_text().splitlines()) >= 3 else None  # header + two epochs

    wait_for(two_epochs_written, process, "two finished epochs", timeout=120)
    history = two_epochs_written()
    process.send_signal(signal.SIGINT)
    _, stderr = communicate(process, timeout=120)
    assert process.returncode == 130, stderr[-4000:]
    assert "interrupted" in stderr and "Traceback" not in stderr

    record = json.loads((history.parent / "result.json").read_text())
    assert record["status"] == "interrupted" and record["error"]
    with open(history, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert record["epochs_completed"] == len(rows) >= 2
    assert record["test_accuracy"] is None
    assert _epochs_in_tensorboard(history.parent / "tensorboard" / "train") == len(rows)


def _epochs_in_tensorboard(folder: Path) -> int:
    """How many epochs' `epoch_loss` the event files in `folder` hold."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return len(events.Tensors("epoch_loss"))


def _finished(sweep_dir: Path) -> dict[str, tuple[int, str]]:
    """Each job folder with a result.json: (modification time, content) of that file."""
    return {path.parent.name: (path.stat().st_mtime_ns, path.read_text()) for path in sweep_dir.glob("*/result.json")}


def _jobs(sweep_dir: Path) -> pd.DataFrame:
    """results.csv indexed by job folder name."""
    results = pd.read_csv(sweep_dir / "results.csv")
    return results.set_index(results["run_dir"].map(lambda run_dir: Path(str(run_dir)).name))


@pytest.mark.slow
def test_sigkill_halfway_through_a_sweep_leaves_whole_files_and_resume_trains_only_the_rest(tmp_path, mnist_path):
    sweep = ("-m", *TINY, "model.units=4,8,12,16", "train.epochs=1", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    sweep_dir = tmp_path / "sweep"
    process = start_cli(*sweep, cwd=tmp_path, data=mnist_path)

    def two_done_and_one_running() -> bool:
        done = list(sweep_dir.glob("*/result.json"))
        running = [hydra.parent for hydra in sweep_dir.glob("*/.hydra") if not (hydra.parent / "result.json").exists()]
        return len(done) >= 2 and bool(running)

    wait_for(two_done_and_one_running, process, "two finished jobs and a third under way")
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL

    # Whatever the kill cut short, every file a reader looks at is whole; temporary files are never read as results.
    finished = _finished(sweep_dir)
    assert 2 <= len(finished) < 4
    (killed,) = [hydra.parent for hydra in sweep_dir.glob("*/.hydra") if hydra.parent.name not in finished]
    for path in sweep_dir.rglob("*.json"):
        assert json.loads(path.read_text())["status"] == "ok", path
    for path in sweep_dir.rglob("*.csv"):
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows and all(len(row) == len(rows[0]) for row in rows), path

    # The killed sweep reports as a marked partial table: the finished jobs, and the folder that has no result.
    report = run_cli("report", str(sweep_dir), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "PARTIAL: 1 job folder(s) have no result" in report.stdout
    assert f"{killed} │ no result.json: still running, or killed" in report.stdout
    assert set(_jobs(sweep_dir).index) == set(finished)

    resumed = run_cli(*sweep, cwd=tmp_path, data=mnist_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("skipped:") == len(finished)
    assert resumed.stdout.count("epoch 1/1") == 4 - len(finished)
    assert {name: _finished(sweep_dir)[name] for name in finished} == finished, "a finished job was trained again"
    results = _jobs(sweep_dir)
    assert sorted(results["units"]) == [4, 8, 12, 16] and (results["status"] == "ok").all()
    assert "PARTIAL" not in resumed.stdout

    # A job folder that never got a result (as a cluster job killed by its scheduler leaves) fails the sweep, named.
    (sweep_dir / "4" / ".hydra").mkdir(parents=True)
    again = run_cli(*sweep, cwd=tmp_path, data=mnist_path)
    assert again.returncode == 1 and again.stdout.count("skipped:") == 4, again.stderr[-3000:]
    assert f"{sweep_dir / '4'} (no result.json: still running, or killed)" in again.stderr


@pytest.mark.slow
def test_ctrl_c_during_a_sweep_stops_it_and_its_tables_list_the_jobs_that_ran(tmp_path, mnist_path):
    sweep_dir = tmp_path / "sweep"
    # Jobs 0 and 1 train one epoch each; job 2 (500 epochs) is the one Ctrl-C interrupts; job 3 never starts.
    process = start_cli("-m", *TINY, "train.epochs=1,500", "model.units=4,8", f"hydra.sweep.dir={sweep_dir}",
                        cwd=tmp_path, data=mnist_path)
    history = sweep_dir / "2" / "history.csv"
    wait_for(lambda: history.is_file() and len(history.read_text().splitlines()) >= 3, process,
              "two epochs of job 2")
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: SIGINT to the foreground process group
    stdout, stderr = communicate(process, timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    assert f"interrupted (SIGINT): the sweep {sweep_dir} stopped early" in stderr
    assert f"hydra.sweep.dir={sweep_dir}" in stderr

    results = _jobs(sweep_dir)
    assert results["status"].to_dict() == {"0": "ok", "1": "ok", "2": "interrupted"}
    assert results.loc["2", "epochs_completed"] >= 2 and results.loc["2", "error"]
    with open(history, newline="") as handle:
        assert len(list(csv.DictReader(handle))) == results.loc["2", "epochs_completed"]
    assert not (sweep_dir / "3").exists()
    assert (sweep_dir / "accuracy.csv").is_file() and "2 of 3 jobs ok" in stdout


_AGGREGATOR = """
import sys, time
from pathlib import Path
from rnn_sweep.report import sweep_report

signals, sweep_dir, name, hold = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "hold"
read = sweep_report.sweep_tables

def read_then_wait(*args, **kwargs):
    # Inside the aggregation: every job folder read, no table written yet. Stay here until the test says go.
    tables = read(*args, **kwargs)
    (signals / f"read-{name}").touch()
    deadline = time.monotonic() + 300  # a test that failed midway leaves no launcher behind
    while not (signals / f"go-{name}").exists():
        if time.monotonic() > deadline:
            sys.exit(f"no go-{name} within 300 s")
        time.sleep(0.001)
    return tables

if hold:
    sweep_report.sweep_tables = read_then_wait
sweep_report.write_sweep_report(sweep_dir)  # as a launcher's on_multirun_end does after its jobs
"""


def _waits_for_a_flock(pid: int) -> bool:
    """Whether process `pid` is blocked waiting for a flock (the kernel lists each waiter in /proc/locks as `->`)."""
    return any(line.split()[1:3] == ["->", "FLOCK"] and line.split()[5] == str(pid)
               for line in Path("/proc/locks").read_text().splitlines())


def _record(**values: object) -> dict:
    """A result record as a finished job writes it (the metrics made up: aggregation only copies them)."""
    return {**dict.fromkeys(COLUMNS), "status": "ok", "cell": "gru", "units": 8, "batch_size": 64,
            "optimizer": "adam", "learning_rate": 0.001, "epochs": 1, "seed": 42, "test_accuracy": 0.5,
            "epoch_seconds": 1.0, "train_samples_per_second": 100.0, **values}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/locks").is_file(), reason="needs Linux's /proc/locks to see a launcher wait")
def test_two_launchers_aggregating_into_one_sweep_folder_at_once_leave_a_complete_table(tmp_path):
    """Two launchers of one sweep (e.g. two cluster arrays) whose jobs end at the same moment.

    Launcher `a` is held inside its aggregation after it read the job folders, before it wrote a table; launcher
    `b`'s job then ends and `b` aggregates. `a` goes on only once `b` waits for the lock or has finished, so
    without the lock `b` writes the complete table first and `a` writes its older one over it, every time.
    """
    sweep_dir, signals = tmp_path / "sweep", tmp_path / "signals"
    signals.mkdir()
    for job in range(3):  # jobs that ended earlier
        write_result(sweep_dir / str(job), _record(run_dir=str(sweep_dir / str(job)), seed=job))

    def launch(name: str, job: int, hold: bool) -> subprocess.Popen:
        write_result(sweep_dir / str(job), _record(run_dir=str(sweep_dir / str(job)), seed=job))  # its job ended
        return subprocess.Popen([sys.executable, "-c", _AGGREGATOR, str(signals), str(sweep_dir), name,
                                 "hold" if hold else "go"], env=cli_env(None), stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

    a = launch("a", 200, hold=True)
    wait_until(lambda: (signals / "read-a").exists() or a.poll() is not None, "read of launcher a")
    assert a.poll() is None, a.stderr.read()[-3000:]
    b = launch("b", 300, hold=False)
    wait_until(lambda: _waits_for_a_flock(b.pid) or b.poll() is not None, "launcher b waiting or done")
    (signals / "go-a").touch()
    for launcher in (a, b):
        _, stderr = communicate(launcher, timeout=120)
        assert launcher.returncode == 0, stderr[-3000:]
    table = pd.read_csv(sweep_dir / "results.csv")
    assert sorted(table["seed"]) == [0, 1, 2, 200, 300], "results.csv misses a job that had ended"
    assert set(CONTRACT_COLUMNS) <= set(table.columns) and (table["status"] == "ok").all()
    assert not [path.name for path in sweep_dir.iterdir() if path.name.endswith(".tmp") or ".tmp-" in path.name]


def _one_paragraph_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


@pytest.mark.slow
def test_a_half_written_sweep_gives_a_marked_partial_table_or_a_clear_error(tmp_path):
    """Jobs 0 and 1 ended; job 2's result.json was cut in half by hand; job 3 was killed before it wrote one."""
    sweep_dir = tmp_path / "sweep"
    for job in range(4):
        (sweep_dir / str(job) / ".hydra").mkdir(parents=True)
    for job in range(3):
        write_result(sweep_dir / str(job), _record(run_dir=str(sweep_dir / str(job)), units=4 * (job + 1)))
    damaged = sweep_dir / "2" / "result.json"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])

    # compare reads the folder's result.json files (no results.csv yet): the damaged one is named.
    error = _one_paragraph_error(run_cli("compare", str(sweep_dir), str(sweep_dir), cwd=tmp_path))
    assert f"Cannot read {damaged}" in error and "cut short" in error

    # report writes the readable rows, marks the table partial, and exits 1 naming the damaged file.
    report = run_cli("report", str(sweep_dir), cwd=tmp_path)
    assert report.returncode == 1 and report.stderr.startswith(f"error: Cannot read {damaged}"), report.stderr
    assert "Traceback" not in report.stderr
    assert "2 of 2 jobs ok" in report.stdout and "PARTIAL: 2 job folder(s) have no result" in report.stdout
    assert "no result.json: still running, or killed" in report.stdout and "result.json unreadable" in report.stdout
    assert sorted(_jobs(sweep_dir).index) == ["0", "1"]
    assert run_cli("compare", str(sweep_dir), str(sweep_dir / "results.csv"), cwd=tmp_path).returncode == 0

    # One run folder at a time: the damaged record and the missing one are errors naming the folder.
    assert f"Cannot read {damaged}" in _one_paragraph_error(run_cli("report", str(sweep_dir / "2"), cwd=tmp_path))
    error = _one_paragraph_error(run_cli("report", str(sweep_dir / "3"), cwd=tmp_path))
    assert f"{sweep_dir / '3'} is a run folder without result.json" in error
    error = _one_paragraph_error(run_cli("compare", str(sweep_dir / "3"), str(sweep_dir), cwd=tmp_path))
    assert f"No run in {sweep_dir / '3'} has a result.json yet" in error


@pytest.mark.slow
def test_results_csvs_without_rows_or_columns_are_clear_errors(tmp_path):
    results = tmp_path / "results.csv"
    pd.DataFrame([_record(run_dir="0")]).to_csv(results, index=False)
    cases = {
        "empty.csv": ("", "{} is empty (0 bytes)"),
        "header.csv": (results.read_text().splitlines()[0] + "\n", "{} has a header (run_dir, status, error, cell, "
                       "...) but no rows"),
        "other.csv": ("name,score\nx,1\n", "B has no column cell, units, batch_size, optimizer, learning_rate, epochs, "
                      "test_accuracy"),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text)
        error = _one_paragraph_error(run_cli("compare", str(results), str(tmp_path / name), cwd=tmp_path))
        assert expected.format(tmp_path / name) in error, error
    error = _one_paragraph_error(run_cli("report", str(results), cwd=tmp_path))
    assert f"{results} is a file, not a folder" in error


def test_report_on_a_read_only_sweep_folder_says_so(tmp_path):
    sweep_dir = tmp_path / "sweep"
    write_result(sweep_dir / "0", _record(run_dir=str(sweep_dir / "0")))
    with immutable(sweep_dir):
        error = _one_paragraph_error(run_cli("report", str(sweep_dir), cwd=tmp_path))
    assert f"Cannot write the tables into {sweep_dir}" in error and "copy the folder" in error
    assert sorted(path.name for path in sweep_dir.iterdir()) == ["0"]


@pytest.mark.slow
def test_no_data_and_no_network_is_one_clear_error_before_tensorflow(tmp_path):
    """Nothing on disk, and the download cannot connect (a proxy on a closed port cuts this process off for real)."""
    keras_home = tmp_path / "keras"
    env = {**cli_env(None), "HOME": str(tmp_path / "home"), "KERAS_HOME": str(keras_home),
           "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    for key in ("no_proxy", "NO_PROXY"):
        env.pop(key, None)
    probe = "import sys\nfrom rnn_sweep.cli import main\ntry:\n    main(sys.argv[1:])\nfinally:\n" \
            "    print('TENSORFLOW-IMPORTED' if 'tensorflow' in sys.modules else 'TENSORFLOW-NOT-IMPORTED')\n"
    result = subprocess.run([sys.executable, "-c", probe, "model.units=8", "train.epochs=1"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    error = _one_paragraph_error(result)
    assert "data.path is not set, RNN_SWEEP_DATA is not set" in error
    assert f"no Keras cache at {keras_home / 'datasets' / 'mnist.npz'}" in error
    assert "downloading https://storage.googleapis.com/" in error and "failed" in error
    assert "TENSORFLOW-NOT-IMPORTED" in result.stdout
    assert not (tmp_path / "outputs").exists() and not (keras_home / "datasets" / "mnist.npz").exists()


@pytest.mark.slow
def test_a_rerun_meeting_an_edited_result_or_unwritable_tables_exits_nonzero_naming_them(tmp_path, mnist_path,
                                                                                        two_sweeps):
    sweep_dir = shutil.copytree(two_sweeps[0], tmp_path / "sweep")
    sweep = (*TWO_SWEEPS_GRID, "seed=1", f"hydra.sweep.dir={sweep_dir}")
    edited = sweep_dir / "0" / "result.json"
    edited.write_text('{"status": "ok"}')

    rerun = run_cli(*sweep, cwd=tmp_path, data=mnist_path)
    assert rerun.returncode == 1 and "Traceback" not in rerun.stderr, rerun.stderr[-3000:]
    assert "Callback" not in rerun.stderr  # an aggregation error is never only Hydra's warning
    assert f"{edited.parent} (result.json unreadable: no run_dir, error, cell" in rerun.stderr
    (fresh,) = sweep_dir.glob("0-*")  # job 0 trained beside the damaged folder, never in it
    assert json.loads((fresh / "result.json").read_text())["status"] == "ok"
    assert edited.read_text() == '{"status": "ok"}'  # never overwritten

    report = run_cli("report", str(sweep_dir), cwd=tmp_path)
    assert report.returncode == 1 and report.stderr.startswith(f"error: Cannot read {edited}"), report.stderr
    assert "Traceback" not in report.stderr

    # Tables that cannot be written (here results.csv is a folder) fail the command, named, even with every job ok.
    edited.unlink()
    shutil.rmtree(fresh)
    (sweep_dir / "results.csv").unlink()
    (sweep_dir / "results.csv").mkdir()
    blocked = run_cli(*sweep, cwd=tmp_path, data=mnist_path)
    assert blocked.returncode == 1 and "Traceback" not in blocked.stderr, blocked.stderr[-3000:]
    assert f"the tables of the sweep {sweep_dir} could not be written: IsADirectoryError" in blocked.stderr

    # The sweep's timing file too: named by the exit status, never only in Hydra's warning about its callback.
    (sweep_dir / "results.csv").rmdir()
    (sweep_dir / SWEEP_TIMING_FILE).unlink()
    (sweep_dir / SWEEP_TIMING_FILE).mkdir()
    timing_blocked = run_cli(*sweep, cwd=tmp_path, data=mnist_path)
    assert timing_blocked.returncode == 1 and "Callback" not in timing_blocked.stderr, timing_blocked.stderr[-3000:]
    assert f"the tables of the sweep {sweep_dir} could not be written: IsADirectoryError" in timing_blocked.stderr
    assert (sweep_dir / "results.csv").is_file()


def _sweep_of_records(sweep_dir: Path, accuracies: list[float]) -> None:
    for job, accuracy in enumerate(accuracies):
        write_result(sweep_dir / str(job), _record(run_dir=str(sweep_dir / str(job)), units=4 * (job + 1),
                                                   test_accuracy=accuracy))
    write_sweep_report(sweep_dir)


def test_compare_reads_the_run_folders_when_results_csv_is_older_than_them(tmp_path):
    sweep_dir = tmp_path / "sweep"
    _sweep_of_records(sweep_dir, [0.5, 0.6])
    newer = sweep_dir / "1"
    write_result(newer, _record(run_dir=str(newer), units=8, test_accuracy=0.9))  # e.g. resumed, tables not rebuilt
    later = (sweep_dir / "results.csv").stat().st_mtime + 5
    os.utime(newer / "result.json", (later, later))
    out = tmp_path / "comparison.csv"
    for where in (sweep_dir, sweep_dir / "results.csv"):
        result = run_cli("compare", str(where), str(where), "--csv", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert pd.read_csv(out).set_index("units")["test_accuracy_a"].to_dict() == {4: 0.5, 8: 0.9}


def test_a_metric_that_is_not_a_number_is_a_named_error(tmp_path):
    sweep_dir = tmp_path / "sweep"
    _sweep_of_records(sweep_dir, [0.5, 0.6])
    table = pd.read_csv(sweep_dir / "results.csv")
    table["test_accuracy"] = table["test_accuracy"].astype(object)
    table.loc[1, "test_accuracy"] = "high"
    table.to_csv(tmp_path / "edited.csv", index=False)
    error = _one_paragraph_error(run_cli("compare", str(sweep_dir), str(tmp_path / "edited.csv"), cwd=tmp_path))
    assert "test_accuracy='high'" in error and "not a number" in error

    record = json.loads((sweep_dir / "0" / "result.json").read_text())
    (sweep_dir / "0" / "result.json").write_text(json.dumps({**record, "test_accuracy": "0.5%"}))
    report = run_cli("report", str(sweep_dir), cwd=tmp_path)
    assert report.returncode == 1 and "test_accuracy is '0.5%', not a number" in report.stderr, report.stderr


@pytest.mark.slow
def test_a_copied_sweep_keeps_working_where_the_original_is_gone(two_sweeps, tmp_path, mnist_path):
    """The sweep is made here, not taken from two_sweeps: it is moved away for a while, and the run's other tests
    read two_sweeps meanwhile."""
    original, other = tmp_path / "made-here", two_sweeps[1]
    made = run_cli("-m", "model=simple_rnn,gru", *SHARED_TINY, "seed=1", f"hydra.sweep.dir={original}",
                   cwd=tmp_path, data=mnist_path)  # the grid of two_sweeps, which compare pairs it with
    assert made.returncode == 0, made.stderr[-3000:]
    copy = tmp_path / "elsewhere" / "copied"
    shutil.copytree(original, copy)
    hidden = original.with_name(original.name + ".away")
    original.rename(hidden)  # nothing may be read from where the sweep was made
    (copy / CURVES_PLOT).unlink()  # drawn again only if every job's history.csv is found in the copy
    try:
        report = run_cli("report", str(copy), cwd=tmp_path)
        assert report.returncode == 0, report.stderr[-3000:]
        results = pd.read_csv(copy / "results.csv", dtype={"run_dir": str})
        assert sorted(results["run_dir"]) == ["0", "1"]  # relative to the sweep folder
        assert (copy / CURVES_PLOT).is_file()
        compared = run_cli("compare", str(copy), str(other), cwd=tmp_path)
        assert compared.returncode == 0 and "Only in" not in compared.stdout, compared.stderr[-3000:]
    finally:
        hidden.rename(original)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.slow
def test_report_on_an_immutable_or_read_only_sweep_with_tables_changes_nothing_and_says_so(tmp_path):
    """A sweep reported before (its lock file and tables exist), then made immutable, or put on a read-only mount."""
    sweep_dir = tmp_path / "sweep"
    _sweep_of_records(sweep_dir, [0.5, 0.6])
    before = _snapshot(sweep_dir)
    for flag in ((), ("--html",)):
        with immutable(sweep_dir):
            error = _one_paragraph_error(run_cli("report", str(sweep_dir), *flag, cwd=tmp_path))
        assert f"Cannot write the tables into {sweep_dir}" in error and "copy the folder" in error
        assert _snapshot(sweep_dir) == before
    with tmpfs(tmp_path / "mount") as mount:
        _sweep_of_records(mount / "sweep", [0.5, 0.6])
        before = _snapshot(mount / "sweep")
        remount(mount, read_only=True)
        error = _one_paragraph_error(run_cli("report", str(mount / "sweep"), cwd=tmp_path))
        assert f"Cannot write the tables into {mount / 'sweep'} (Read-only file system)" in error
        assert _snapshot(mount / "sweep") == before


def test_compare_onto_a_folder_or_a_read_only_place_writes_nothing_and_names_it(tmp_path):
    sweep_dir = tmp_path / "sweep"
    _sweep_of_records(sweep_dir, [0.5, 0.6])
    folder = tmp_path / "a-folder"
    folder.mkdir()
    compare = ("compare", str(sweep_dir), str(sweep_dir))
    out_csv = tmp_path / "comparison.csv"
    for flag in ("--html", "--csv"):
        error = _one_paragraph_error(run_cli(*compare, "--csv", str(out_csv), flag, str(folder), cwd=tmp_path))
        assert f"Cannot write {flag} {folder}: it is a folder" in error
        assert not out_csv.exists() and not any(folder.iterdir())
    with immutable(folder):
        error = _one_paragraph_error(run_cli(*compare, "--html", str(folder / "page.html"), cwd=tmp_path))
    assert f"Cannot write --html {folder / 'page.html'}: {folder} is not a writable folder" in error
    with tmpfs(tmp_path / "mount", read_only=True) as mount:
        error = _one_paragraph_error(run_cli(*compare, "--html", str(mount / "new" / "page.html"), cwd=tmp_path))
        assert f"Cannot write --html {mount / 'new' / 'page.html'}: {mount} is not a writable folder" in error
        assert "Read-only file system" in error
    assert not any(folder.iterdir())


def _temporaries(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.name.startswith(".tmp-") or path.name.endswith(".tmp")]


@pytest.mark.slow
def test_a_full_disk_fails_the_job_that_meets_it_and_resume_finishes_once_there_is_room(tmp_path, mnist_path):
    """A 1 MB file system: job 0's model (8 units) fits, job 1's (512 units, about 1.1 MB of weights) does not."""
    with tmpfs(tmp_path / "disk", size="1m") as disk:
        sweep_dir = disk / "sweep"
        sweep = ("-m", *TINY[:-2], "train.save_model=true", "train.device=cpu", "model.units=8,512",
                 "train.epochs=1", f"hydra.sweep.dir={sweep_dir}")
        full = run_cli(*sweep, cwd=tmp_path, data=mnist_path)
        assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-3000:]
        jobs = _jobs(sweep_dir)
        assert jobs.loc["0", "status"] == "ok" and jobs.loc["1", "status"] == "failed"
        assert "No space left on device" in jobs.loc["1", "error"]
        assert "1 of 2 jobs of the sweep" in full.stderr and "No space left on device" in full.stderr
        assert (sweep_dir / "0" / "model.keras").is_file() and not (sweep_dir / "1" / "model.keras").exists()
        assert _temporaries(sweep_dir) == []

        (sweep_dir / "1" / ".tmp-99999-model.keras").write_bytes(b"half a model")  # as a SIGKILL mid-save leaves
        remount(disk, read_only=False, size="64m")  # room made
        resumed = run_cli(*sweep, cwd=tmp_path, data=mnist_path)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert resumed.stdout.count("skipped:") == 1 and (_jobs(sweep_dir)["status"] == "ok").all()
        assert (sweep_dir / "1" / "model.keras").is_file() and _temporaries(sweep_dir) == []


# What a job's start-up makes, in order (each a new inode): its folder, Hydra's log file, `.hydra/`, its three files,
# then the job's claim file.
_FIRST_MADE = {0: "its folder {job} could not be made", 1: "Hydra could not open the job's log file",
               2: "Hydra could not save the job's config in {job}/.hydra (OSError: [Errno 28] No space left on device: "
                  "'{job}/.hydra')", 3: "Hydra could not save the job's config in {job}/.hydra",
               6: "its claim file {job}/.claim could not be made"}
# submitit_local makes its own files first, in `.submitit/`, from three processes: the folder and the pickled job
# (this one), the job's folder named by its id (this one, while the controller it started makes `%j`: at 2 neither
# has room), the job's two log files (the controller); then the job's process makes what the other launchers do.
# As patterns, with {sweep} for the sweep folder.
_SUBMITIT_FIRST_MADE = {0: r"submitit could not make {sweep}/\.submitit \(",
                        2: r"submitit could not make {sweep}/\.submitit/\d+ \(",
                        5: r"submitit could not make {sweep}/\.submitit/(\d+)/\1_0_log\.err \(",
                        7: re.escape(_FIRST_MADE[1])}
_NO_INODE_CASES = [*((launcher, inodes) for launcher in ("basic", "joblib") for inodes in range(4)), ("basic", 6),
                   *(("submitit_local", inodes) for inodes in _SUBMITIT_FIRST_MADE)]


@pytest.mark.slow  # each command in a process of its own, as a user runs it (no TensorFlow is loaded by them)
@pytest.mark.parametrize(("launcher", "inodes"), _NO_INODE_CASES)
def test_a_job_that_finds_no_inode_for_its_start_up_stops_the_sweep_in_one_line(tmp_path, mnist_path, launcher,
                                                                                inodes):
    """However few files and folders the disk can still take, a job that cannot set up its folder (ext4 without a
    free block does the same) stops the sweep with one line naming what could not be made, never a traceback: on
    submitit_local too, whichever of its processes finds no room."""
    if launcher == "submitit_local":
        pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    with tmpfs(tmp_path / "disk", size="16m") as disk:
        sweep_dir = disk / "sweep"
        sweep_dir.mkdir()
        (sweep_dir / "multirun.yaml").touch()  # Hydra writes it over in place: no inode needed
        inodes_only(disk, extra=inodes)
        stopped = run_cli("-m", f"hydra/launcher={launcher}", *TINY, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path,
                          data=mnist_path)
        assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
        (line,) = stopped.stderr.strip().splitlines()
        first_made = _SUBMITIT_FIRST_MADE[inodes].format(sweep=re.escape(str(sweep_dir))) \
            if launcher == "submitit_local" else re.escape(_FIRST_MADE[inodes].format(job=sweep_dir / "0"))
        assert re.match(f"error: job 0 not run: {first_made}", line), line
        assert "No space left on device" in line and f"Run the same command with hydra.sweep.dir={sweep_dir}" in line


@pytest.mark.slow
def test_a_disk_full_before_a_job_starts_fails_that_job_or_stops_the_sweep_in_one_line(tmp_path, mnist_path):
    """The disk fills up after job 0 finished. With no inode left, job 1's folder cannot be made: the sweep stops
    with one line. With inodes but no room, Hydra cannot save job 1's config in `.hydra/`: again one line. With two
    pages left, job 1 gets a `failed` record naming the full disk; once room is made, the same command trains job 1
    alone. Job 0, whose claim file is gone (a folder copied without it), is skipped all along, though no claim file
    can be made or written for it."""
    with tmpfs(tmp_path / "disk", size="16m") as disk:
        sweep_dir = disk / "sweep"
        sweep = ("-m", *TINY, "train.epochs=1", f"hydra.sweep.dir={sweep_dir}")
        first = run_cli(*sweep, "model.units=4", cwd=tmp_path, data=mnist_path)
        assert first.returncode == 0, first.stderr[-3000:]
        job_0 = {name: body for name, body in _snapshot(sweep_dir / "0").items() if name != ".claim"}

        (sweep_dir / "0" / ".claim").unlink()
        inodes_only(disk, extra=0)  # not even job 1's folder can be made (ext4 without a free block does the same)
        no_folder = run_cli(*sweep, "model.units=4,8", cwd=tmp_path, data=mnist_path)
        assert no_folder.returncode == 1 and "Traceback" not in no_folder.stderr, no_folder.stderr[-3000:]
        (line,) = no_folder.stderr.strip().splitlines()
        assert line.startswith(f"error: job 1 not run: its folder {sweep_dir / '1'} could not be made (No space left "
                               "on device)") and f"Run the same command with hydra.sweep.dir={sweep_dir}" in line, line
        assert "skipped:" in no_folder.stdout and not (sweep_dir / "1").exists()
        inodes_only(disk, extra=None)

        filler = fill_up(disk)

        stopped = run_cli(*sweep, "model.units=4,8", cwd=tmp_path, data=mnist_path)
        assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
        (line,) = stopped.stderr.strip().splitlines()
        assert line.startswith("error: job 1 not run: Hydra could not save the job's config") and \
            "No space left on device" in line and f"Run the same command with hydra.sweep.dir={sweep_dir}" in line
        assert "skipped:" in stopped.stdout and not (sweep_dir / "1" / "result.json").exists()
        assert {name: _snapshot(sweep_dir / "0")[name] for name in job_0} == job_0  # job 0's files whole
        assert _temporaries(sweep_dir) == []

        elsewhere = disk / "elsewhere"  # a new sweep: no room for its multirun.yaml, before any job
        unstarted = run_cli("-m", *TINY, "train.epochs=1", f"hydra.sweep.dir={elsewhere}", cwd=tmp_path,
                            data=mnist_path)
        assert unstarted.returncode == 1 and "Traceback" not in unstarted.stderr, unstarted.stderr[-3000:]
        assert unstarted.stderr.strip().splitlines() == [
            f"error: the sweep {elsewhere} did not start: {elsewhere / 'multirun.yaml'} could not be written (No "
            "space left on device): make room and run it again."]
        assert list(elsewhere.iterdir()) == []

        filler.unlink()
        filler = fill_up(disk, leave_pages=3)  # room for job 0's claim and a record, not for Hydra's hydra.yaml too
        failed = run_cli(*sweep, "model.units=4,8", cwd=tmp_path, data=mnist_path)
        assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr[-3000:]
        record = json.loads((sweep_dir / "1" / "result.json").read_text())
        assert record["status"] == "failed" and "No space left on device" in record["error"]
        assert (record["units"], record["cell"]) == (8, "simple_rnn") and _temporaries(sweep_dir) == []

        filler.unlink()
        resumed = run_cli(*sweep, "model.units=4,8", cwd=tmp_path, data=mnist_path)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert resumed.stdout.count("skipped:") == 1 and resumed.stdout.count("epoch 1/1") == 1
        jobs = _jobs(sweep_dir)
        assert sorted(jobs["units"]) == [4, 8] and (jobs["status"] == "ok").all() and _temporaries(sweep_dir) == []


def _under_address_space_limit(limit_kb: int, *args: str, cwd: Path, data: str,
                               timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m rnn_sweep ARGS` in a fresh process under `ulimit -v limit_kb`; TimeoutExpired (the command and its
    trainer killed) if it has not ended after `timeout` seconds."""
    import resource

    limit = limit_kb * 1024
    return subprocess.run([sys.executable, "-m", "rnn_sweep", *args], cwd=cwd, env=cli_env(data), capture_output=True,
                          text=True, timeout=timeout, check=False,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))


@pytest.mark.slow
def test_an_address_space_limit_too_small_for_tensorflow_is_a_failed_record(tmp_path, mnist_path):
    """ulimit -v 700 MB: Python, Hydra and the config load in under 400 MB, and TensorFlow's main library alone is
    larger than the whole limit, so its import fails to map it, every time. Near 1.2 GB the library maps and what
    loads after it may crash the process outright (SIGSEGV, no record), by a margin that differs between machines."""
    import importlib.util

    run_dir = tmp_path / "run"
    library = Path(importlib.util.find_spec("tensorflow").submodule_search_locations[0]) / "libtensorflow_cc.so.2"
    assert library.stat().st_size > 700_000 * 1024, f"{library} now fits under the limit: lower it"
    result = _under_address_space_limit(700_000, *TINY, "train.epochs=1", f"hydra.run.dir={run_dir}", cwd=tmp_path,
                                        data=mnist_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "failed" and "TensorFlow could not be loaded" in record["error"]
    assert "a memory limit" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.slow
def test_a_sweep_whose_trainer_runs_out_of_memory_outside_a_job_ends_with_records_tables_one_line_and_resumes(
        tmp_path, mnist_path):
    """ulimit -v 1.5 GB: TensorFlow's import takes most of the room before it fails, and the training process then
    runs out of memory where no job can catch it: in Hydra between two jobs, in a job that has claimed its folder but
    not written its record, or in the sweep's tables (which of them differs from run to run; each used to end in a
    traceback, without tables, the claimed job without a record). It hands the error to the command's own process,
    which never loaded TensorFlow and has room: records, tables, one line, exit 1; resume without the limit finishes."""
    sweep_dir = tmp_path / "sweep"
    sweep = ("-m", *TINY, "model.units=4,8", "train.epochs=1", f"hydra.sweep.dir={sweep_dir}")
    stopped = _under_address_space_limit(1_500_000, *sweep, cwd=tmp_path, data=mnist_path)
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    lines = [line for line in stopped.stderr.splitlines() if "error: " in line]
    assert len(lines) == 1, stopped.stderr[-3000:]
    assert "memory" in lines[0].lower() and f"Run the same command with hydra.sweep.dir={sweep_dir}" in lines[0], lines
    jobs = _jobs(sweep_dir)
    assert (jobs["status"] == "failed").all() and jobs["error"].str.lower().str.contains("memory").all(), jobs["error"]
    claimed = [folder for folder in sweep_dir.glob("*/") if holder(folder)]
    assert claimed and all((folder / "result.json").is_file() for folder in claimed)

    resumed = run_cli(*sweep, cwd=tmp_path, data=mnist_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sorted(_jobs(sweep_dir).index) == ["0", "1"] and (_jobs(sweep_dir)["status"] == "ok").all()


# The CLI as `python -m rnn_sweep ARGS` runs it, whose training process (the one process that sets HYDRA_FULL_ERROR,
# rnn_sweep.launch.supervisor) ends with exit status 1 and not a word as the sweep's tables begin to load: as a child
# out of memory does when it cannot even hand its error over, or glibc's loader when it cannot map a library.
_TRAINER_EXITS_SILENTLY = """
import importlib.abc, os, runpy, sys

class ExitSilently(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "rnn_sweep.report.sweep_report" and os.environ.get("HYDRA_FULL_ERROR") == "1":
            os._exit(1)
        return None

sys.meta_path.insert(0, ExitSilently())
runpy.run_module("rnn_sweep", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
def test_a_trainer_that_exits_without_a_word_after_its_jobs_ended_still_gets_the_commands_line_and_tables(
        tmp_path, mnist_path):
    """Its one job ended ok, so no job is left without a record; the command still says how its trainer ended, in
    one line, and writes the tables the trainer did not."""
    sweep_dir = tmp_path / "sweep"
    ended = subprocess.run([sys.executable, "-c", _TRAINER_EXITS_SILENTLY, "-m", *TINY,
                            "train.epochs=1", f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path, env=cli_env(mnist_path),
                           capture_output=True, text=True, timeout=300, check=False)
    assert ended.returncode == 1 and "Traceback" not in ended.stderr, ended.stderr[-3000:]
    lines = [line for line in ended.stderr.splitlines() if "error: " in line]
    assert len(lines) == 1 and "ended with exit status 1 without saying why" in lines[0], ended.stderr[-3000:]
    assert (_jobs(sweep_dir)["status"] == "ok").all() and (sweep_dir / "accuracy.csv").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("limit_kb", [1_550_000, 1_600_000])
def test_a_memory_limit_that_leaves_openblas_no_room_ends_the_command_instead_of_hanging_it(tmp_path, mnist_path,
                                                                                            limit_kb):
    """SciPy's OpenBLAS, which Keras loads while TensorFlow is imported, allocates a 32 MB buffer per thread as it
    loads and, finding no room, retried forever: a hang no one could tell from a slow job (on 2 cores: from 1.575 to
    1.625 GB; with one OpenBLAS thread, at 1.55 GB). The command now loads it first, while it has room: it ends like
    any other run out of memory, well before a deadline 10 times its usual time."""
    run_dir = tmp_path / "run"
    try:
        ended = _under_address_space_limit(limit_kb, *TINY, "train.epochs=1", f"hydra.run.dir={run_dir}",
                                           cwd=tmp_path, data=mnist_path, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the command was still running after 120 s under ulimit -v {limit_kb}")
    assert ended.returncode == 1 and "Traceback" not in ended.stderr, ended.stderr[-3000:]
    (line,) = [line for line in ended.stderr.splitlines() if "error: " in line]
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "failed" and "memory" in record["error"].lower() and "memory" in line.lower(), line


def test_a_sweep_over_preset_names_reports_its_presets_table(tmp_path):
    """`-m preset.name=a,b` labels two sets of runs: the presets table has a column named with a dot."""
    sweep_dir = tmp_path / "sweep"
    for job, name in enumerate(["a", "b"]):
        write_result(sweep_dir / str(job), _record(run_dir=str(sweep_dir / str(job)), preset=name,
                                                   overrides=[f"preset.name={name}"], train_seconds=1.0,
                                                   epochs_completed=1, device="cpu"))
    report = run_cli("report", str(sweep_dir), cwd=tmp_path)
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr[-3000:]
    assert set(pd.read_csv(sweep_dir / "presets.csv")["preset"]) == {"a", "b"}


@pytest.mark.slow  # no TensorFlow: the submission stops before any job runs
@pytest.mark.parametrize("pages", [2, 16])
def test_a_job_pickle_cut_short_by_a_full_disk_is_not_left_behind(tmp_path, mnist_path, pages):
    """submitit_local pickles each job (tens of kB) into `.submitit/` under a temporary name before submitting it:
    with a few pages left the file is begun and cannot be finished. The sweep stops in one line, and the half file
    goes with it, wherever the write was cut."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    with tmpfs(tmp_path / "disk", size="16m") as disk:
        sweep_dir = disk / "sweep"
        sweep_dir.mkdir()
        (sweep_dir / "multirun.yaml").write_text("x" * 10_000)  # Hydra writes it over in place: no page needed
        fill_up(disk, leave_pages=pages)
        stopped = run_cli("-m", "hydra/launcher=submitit_local", *TINY, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path,
                          data=mnist_path)
        assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
        (line,) = stopped.stderr.strip().splitlines()
        submitit_files = sweep_dir / ".submitit"
        assert line.startswith(f"error: job 0 not run: submitit could not write its files in {submitit_files} (No "
                               "space left on device)"), line
        assert list(submitit_files.rglob("*.pkl")) == []


@pytest.mark.slow
def test_a_training_process_that_crashes_leaves_a_failed_record_tables_and_one_line_and_resumes(tmp_path, mnist_path):
    """TensorFlow under an address-space limit can abort (SIGABRT) or segfault while training, at a limit that differs
    between machines; the signal is sent here instead. The process that trains is the command's child (its pid is in
    the job's claim): the command outlives it, records the job as failed, writes the tables, and a resume retries."""
    sweep_dir = tmp_path / "sweep"
    # 20 epochs: time enough to freeze job 0 after its first, few enough that the resume retrains both jobs quickly.
    sweep = ("-m", *TINY, "model.units=4,8", "train.epochs=20", f"hydra.sweep.dir={sweep_dir}")
    process = start_cli(*sweep, cwd=tmp_path, data=mnist_path)
    history = sweep_dir / "0" / "history.csv"
    wait_for(lambda: history.is_file() and len(history.read_text().splitlines()) >= 2, process, "an epoch of job 0")
    trainer = holder(sweep_dir / "0")["pid"]
    assert trainer != process.pid, "the command trains in its own process"
    os.kill(trainer, signal.SIGSTOP)  # frozen mid-training: 19 epochs to go, no record yet
    assert not (sweep_dir / "0" / "result.json").exists()
    os.kill(trainer, signal.SIGSEGV)
    os.kill(trainer, signal.SIGCONT)
    stdout, stderr = communicate(process, timeout=120)
    assert process.returncode == 1, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr[-3000:]
    assert "killed by SIGSEGV" in errors[0] and f"hydra.sweep.dir={sweep_dir}" in errors[0], errors[0]

    record = json.loads((sweep_dir / "0" / "result.json").read_text())
    assert record["status"] == "failed" and "killed by SIGSEGV" in record["error"] and record["epochs_completed"] >= 1
    assert record["units"] == 4 and record["config_hash"]
    assert _jobs(sweep_dir)["status"].to_dict() == {"0": "failed"} and (sweep_dir / "accuracy.csv").is_file()
    assert not (sweep_dir / "1").exists() and "0 of 1 jobs ok" in stdout, stdout[-3000:]

    resumed = run_cli(*sweep, cwd=tmp_path, data=mnist_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "skipped:" not in resumed.stdout and (_jobs(sweep_dir)["status"] == "ok").all()
    assert sorted(_jobs(sweep_dir).index) == ["0", "1"]


@pytest.mark.slow
def test_a_single_run_whose_trainer_the_out_of_memory_killer_ends_has_a_failed_record_and_one_line(tmp_path,
                                                                                                  mnist_path):
    """SIGKILL, as the kernel's out-of-memory killer sends it, to the process that trains a single run."""
    run_dir = tmp_path / "run"
    process = start_cli(*TINY, "model.units=4", "train.epochs=50", f"hydra.run.dir={run_dir}", cwd=tmp_path,
                        data=mnist_path)
    history = run_dir / "history.csv"
    wait_for(lambda: history.is_file() and len(history.read_text().splitlines()) >= 2, process, "an epoch")
    trainer = holder(run_dir)["pid"]
    os.kill(trainer, signal.SIGSTOP)  # frozen mid-training: 49 epochs to go, no record yet
    assert trainer != process.pid and not (run_dir / "result.json").exists()
    os.kill(trainer, signal.SIGKILL)
    _, stderr = communicate(process, timeout=120)
    assert process.returncode == 1, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == (
        "error: crashed: the training process was killed by SIGKILL, by something outside it, most often the "
        f"kernel's out-of-memory killer or a scheduler's memory limit; {run_dir} holds its `failed` record."), stderr
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "failed" and "SIGKILL" in record["error"] and record["epochs_completed"] >= 1
