"""Sweeps through a real SLURM: `bash scripts/local-slurm.sh up` starts a one-node cluster on this machine.

Without a cluster these tests skip with the reason; under CI (CI=true or RNN_SWEEP_REQUIRE_CLUSTER=1) they fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers.cli import communicate, run_cli, start_cli, wait_for
from helpers.runs import CLUSTER_TINY as TINY
from helpers.runs import RACE_TINY
from places import fill_up, inodes_only, tmpfs

from rnn_sweep.cluster.scheduler import end_reason, program_output, slurm_lines

GRID = ("model=simple_rnn,gru", "train.batch_size=32,64")
# One CPU and 2 GB a job, so that the one-node cluster of a 2-core machine runs two at once.
SLURM = ("hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2")


def _records(sweep_dir: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(sweep_dir.glob("*/result.json"))]


@pytest.mark.slow
@pytest.mark.cluster
def test_a_sweep_through_slurm_cancelled_with_scancel_resumes_to_the_tables_of_a_local_run(tmp_path, slurm,
                                                                                           mnist_path):
    """scancel after the first job ended: the cancelled jobs are interrupted rows; the resumed sweep trains only
    them, on SLURM again, and ends with the numbers the same grid gives on this machine."""
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    sweep = ("-m", *GRID, *TINY, *SLURM, f"hydra.sweep.dir={on_slurm}")
    first = start_cli(*sweep, cwd=tmp_path, data=mnist_path)

    def finished() -> list[dict]:
        return [record for record in _records(on_slurm) if record["status"] == "ok"]

    wait_for(finished, first, "finished job", timeout=180)
    subprocess.run(["scancel", finished()[0]["slurm_job_id"].split("_")[0]], check=True)
    stdout, stderr = communicate(first, timeout=180)
    assert first.returncode == 1, stdout[-3000:] + stderr[-3000:]
    cut_short = pd.read_csv(on_slurm / "results.csv")
    assert len(cut_short) == 4 and (cut_short["status"] == "ok").sum() < 4
    cancelled = cut_short[cut_short["status"] != "ok"]
    assert set(cancelled["status"]) == {"interrupted"}
    assert cancelled["error"].str.startswith("CANCELLED: SLURM ended job").all()
    finished = {r["run_dir"]: r for r in _records(on_slurm) if r["status"] == "ok"}

    again = run_cli(*sweep, cwd=tmp_path, data=mnist_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    records = _records(on_slurm)
    for record in records:
        if record["run_dir"] in finished:  # skipped: the record of the first sweep, untouched
            assert record == finished[record["run_dir"]]

    result = run_cli("-m", *GRID, *TINY, f"hydra.sweep.dir={local}", cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    slurm_results, local_results = (pd.read_csv(folder / "results.csv") for folder in (on_slurm, local))
    assert list(slurm_results.columns) == list(local_results.columns)
    assert list(slurm_results["status"]) == ["ok"] * 4 and slurm_results["config_hash"].is_unique
    assert sorted(slurm_results["config_hash"]) == sorted(local_results["config_hash"])
    # Deterministic tiny runs: the same numbers wherever they trained, so the accuracy table is the same file.
    assert (on_slurm / "timing.csv").is_file()
    assert (on_slurm / "accuracy.csv").read_text() == (local / "accuracy.csv").read_text()
    same = ["config_hash", "cell", "batch_size", "test_accuracy", "test_loss", "params"]
    pd.testing.assert_frame_equal(slurm_results[same].sort_values("config_hash", ignore_index=True),
                                  local_results[same].sort_values("config_hash", ignore_index=True))

    assert {record["scheduler"] for record in records} == {"slurm"}
    job_ids = [re.fullmatch(r"(\d+)_(\d+)", record["slurm_job_id"]) for record in records]
    assert all(job_ids) and len({match[1] for match in job_ids}) == 2  # the first sweep's array, the resumed one's
    assert {record["node"] for record in records} == {os.uname().nodename.split(".")[0]}
    assert {record["threads"] for record in records} == {1}  # TensorFlow kept to the one CPU each job asked for
    assert all(record["scheduler"] is None and record["slurm_job_id"] is None for record in _records(local))


@pytest.mark.slow
@pytest.mark.cluster
def test_a_race_submits_each_round_to_slurm_as_a_job_array(tmp_path, slurm, mnist_path):
    """Two learning rates 1% apart and margin 0: nothing can be shown worse or tied, so the race runs to max_seeds,
    round 1 (jobs 0-3) and round 2 (jobs 4 and 5, each setting's third seed) each one SLURM job array."""
    sweep = tmp_path / "race"
    finished = run_cli("-m", "hydra/sweeper=race", "hydra.sweeper.min_seeds=2", "hydra.sweeper.max_seeds=3",
                       "hydra.sweeper.margin=0", "optimizer.learning_rate=0.01,0.0101", *RACE_TINY, *SLURM,
                       f"hydra.sweep.dir={sweep}", cwd=tmp_path, data=mnist_path)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert re.findall(r"submitted (\d+) jobs to SLURM as job array", finished.stdout) == ["4", "2"]
    records = {int(record["run_dir"].rsplit("/", 1)[1]): record for record in _records(sweep)}
    assert sorted(records) == list(range(6)) and {record["status"] for record in records.values()} == {"ok"}
    assert [record["seed"] for _, record in sorted(records.items())] == [0, 0, 1, 1, 2, 2]
    arrays = [record["slurm_job_id"].split("_")[0] for _, record in sorted(records.items())]
    assert len(set(arrays[:4])) == 1 and len(set(arrays[4:])) == 1 and arrays[0] != arrays[4]
    frame = pd.read_csv(sweep / "race.csv")
    assert frame["round"].tolist() == [1, 1, 2, 2] and frame["n"].tolist() == [2, 2, 3, 3]
    assert "Race over after 2 round(s): max_seeds=3 reached." in " ".join(finished.stdout.split())


@pytest.mark.slow
@pytest.mark.cluster
def test_jobs_slurm_stops_are_failed_rows_that_say_why(tmp_path, slurm, mnist_path):
    """Out of memory (a 250 MB --mem: TensorFlow alone needs more) and the time limit (SLURM's warning signal
    40 s before a 1-minute limit), run side by side."""
    cases = {
        "OUT_OF_MEMORY": ("hydra.launcher.mem_gb=null", "hydra.launcher.mem_per_cpu=250M", "train.epochs=1"),
        "TIMEOUT": ("hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=40", "train.epochs=1000"),
    }
    running = {
        reason: start_cli("-m", "model=simple_rnn", *TINY, *SLURM, *extra, f"hydra.sweep.dir={tmp_path / reason}",
                          cwd=tmp_path, data=mnist_path)
        for reason, extra in cases.items()
    }
    for reason, process in running.items():
        out, err = process.communicate(timeout=240)
        assert process.returncode == 1, out[-3000:] + err[-3000:]
        assert "Traceback" not in err
        results = pd.read_csv(tmp_path / reason / "results.csv")
        assert list(results["status"]) == ["failed"]
        assert results["error"][0].startswith(f"{reason}:") or f"SlurmTimeLimit: {reason}:" in results["error"][0]
        assert results["cell"][0] == "simple_rnn" and results["slurm_job_id"].notna().all()
        assert (tmp_path / reason / "accuracy.csv").is_file()
        assert "did not end ok" in err


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize(("inodes", "first_made"), [(0, r"\.submitit"), (3, r"\.submitit/\d+")], ids=["0", "3"])
def test_no_room_for_submitits_files_stops_a_slurm_sweep_in_one_line(tmp_path, slurm, mnist_path, inodes,
                                                                      first_made):
    """With no free inode for submitit's folder (0), or for the job's folder in it once SLURM has accepted the job
    (3), the sweep stops with one line naming what could not be made, exit 1, never a traceback (the accepted job
    has no room for its log files either: SLURM ends it at once). Seconds: no job runs."""
    with tmpfs(tmp_path / "disk", size="16m") as disk:
        sweep_dir = disk / "sweep"
        sweep_dir.mkdir()
        (sweep_dir / "multirun.yaml").touch()  # Hydra writes it over in place: no inode needed
        inodes_only(disk, extra=inodes)
        stopped = run_cli("-m", "model=simple_rnn", *TINY, *SLURM, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path,
                          data=mnist_path)
        assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
        (line,) = stopped.stderr.strip().splitlines()
        made = rf"{re.escape(str(sweep_dir))}/{first_made} \(No space left on device\)"
        assert re.match(f"error: job 0 not run: submitit could not make {made}", line), line
        assert f"Run the same command with hydra.sweep.dir={sweep_dir}" in line


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("jobs", [1, 2], ids=["one job", "an array"])
def test_jobs_slurm_accepted_before_their_folder_could_not_be_made_are_cancelled(tmp_path, slurm, mnist_path, jobs):
    """sbatch accepts the jobs, then submitit finds no inode for the job's folder (3 free: the batch script, its
    pickles, and the log folder of the batch script once moved). The jobs are held in the queue (--hold), as a
    busy cluster would keep them, so they cannot end by themselves: the sweep that gave up cancels them, or they
    would run later beside the resumed sweep. Seconds: no job runs."""
    with tmpfs(tmp_path / "disk", size="16m") as disk:
        sweep_dir = disk / "sweep"
        sweep_dir.mkdir()
        (sweep_dir / "multirun.yaml").touch()  # Hydra writes it over in place: no inode needed
        inodes_only(disk, extra=2 + jobs)
        try:
            stopped = run_cli("-m", f"model={'simple_rnn,gru' if jobs == 2 else 'simple_rnn'}", *TINY, *SLURM,
                              "+hydra.launcher.additional_parameters.hold=true", f"hydra.sweep.dir={sweep_dir}",
                              cwd=tmp_path, data=mnist_path)
            submitted = _queued_from(sweep_dir / ".submitit")
            states = [state for array in submitted for state in _states(array)]
        finally:
            subprocess.run(["scancel", *_queued_from(sweep_dir / ".submitit")], check=False)  # none left, once passed
        assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
        (line,) = stopped.stderr.strip().splitlines()
        assert re.match(rf"error: jobs? .*not run: submitit could not make {re.escape(str(sweep_dir))}/\.submitit/\d+",
                        line), line
        assert len(submitted) == 1, "sbatch accepted no job: the test no longer tries what it means to"
        assert states and set(states) == {"CANCELLED"}, f"left in the queue: {states}"
        assert f"as job {submitted[0]}, now cancelled: the sweep" in line, line


def _queued_from(submitit_folder: Path) -> list[str]:
    """The SLURM jobs (array ids) whose batch script sbatch was given in `submitit_folder`, in any state."""
    listed = subprocess.run(["squeue", "--noheader", "--states=all", "--format=%F|%o"], capture_output=True,
                            text=True, check=True).stdout
    return sorted({job for job, script in (line.split("|", 1) for line in listed.splitlines())
                   if Path(script).parent == submitit_folder})


def _states(array_id: str) -> list[str]:
    """The state of each job of the array `array_id`, as squeue tells them (ended ones too, for a few minutes)."""
    listed = subprocess.run(["squeue", "--noheader", "--array", "--states=all", "--format=%T", f"--jobs={array_id}"],
                            capture_output=True, text=True, check=True).stdout
    return listed.split()


@pytest.mark.slow
@pytest.mark.cluster
def test_a_slurm_jobs_pickle_cut_short_by_a_full_disk_is_not_left_behind(tmp_path, slurm, mnist_path):
    """Two pages left: submitit begins the job's pickle (tens of kB) under a temporary name and cannot finish it.
    The sweep stops in one line before anything is submitted, and the half file goes with it."""
    with tmpfs(tmp_path / "disk", size="16m") as disk:
        sweep_dir = disk / "sweep"
        sweep_dir.mkdir()
        (sweep_dir / "multirun.yaml").write_text("x" * 10_000)  # Hydra writes it over in place: no page needed
        fill_up(disk, leave_pages=2)
        stopped = run_cli("-m", "model=simple_rnn", *TINY, *SLURM, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path,
                          data=mnist_path)
        assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
        (line,) = stopped.stderr.strip().splitlines()
        assert line.startswith("error: job 0 not run: submitit could not") and "No space left on device" in line, line
        assert list((sweep_dir / ".submitit").rglob("*.pkl")) == []


def test_the_slurm_launcher_without_sbatch_exits_2_before_anything_runs(tmp_path):
    """Needs no cluster: PATH is stripped of every folder that has sbatch."""
    path = os.pathsep.join(
        folder for folder in os.environ.get("PATH", "").split(os.pathsep) if not (Path(folder) / "sbatch").exists()
    )
    result = run_cli("-m", *GRID, *TINY, "hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                     cwd=tmp_path, env={"PATH": path})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "sbatch" in message and "scripts/local-slurm.sh up" in message
    assert result.stderr.strip().count("\n\n") == 0  # one paragraph
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize(("state", "words", "reason"), [
    ("TIMEOUT", "", "TIMEOUT"),
    ("CANCELLED by 0", "", "CANCELLED"),
    ("FAILED", "slurmstepd: error: Job 7 exceeded job memory limit at some point.", "OUT_OF_MEMORY"),
    ("FAILED", "slurmstepd: error: *** JOB 7 ON vm CANCELLED AT 2026-12-06T11:00:00 DUE TO TIME LIMIT ***", "TIMEOUT"),
    ("FAILED", "Traceback (most recent call last):\nValueError: bad", "FAILED"),
    ("COMPLETED", "", "COMPLETED"),
])
def test_how_slurm_ended_a_job_is_read_from_its_state_or_its_words(state, words, reason):
    assert end_reason(state, words) == reason


def test_a_job_that_stopped_itself_on_slurms_warning_is_a_timeout_though_slurm_says_completed():
    """SLURM's USR2 reaches the job before training: the launcher's SlurmTimeLimit ends the job, which SLURM then
    counts as COMPLETED. What submitit says of the job names the reason."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from rnn_sweep.cluster.slurm import SlurmLauncher

    launcher = SlurmLauncher.__new__(SlurmLauncher)
    launcher.params = {"timeout_min": 1, "signal_delay_s": 40}
    with pytest.raises(Exception) as stopped:
        launcher.checkpoint()
    said_by_submitit = f"Job (task=0) failed during processing with trace: ...\n{stopped.value!r}"
    assert end_reason("COMPLETED", said_by_submitit) == "TIMEOUT"


def test_a_slurm_job_that_found_no_room_for_its_result_is_named_by_its_own_last_words_not_sruns():
    """The job's stderr as SLURM leaves it (the job's process died of submitit's full-disk OSError, then srun said
    so): the stop names the file the process could not make, not srun's exit code."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from rnn_sweep.cluster.local import no_room

    log = ("Traceback (most recent call last):\n"
           '  File "submitit/core/utils.py", line 236, in cloudpickle_dump\n'
           "OSError: [Errno 28] No space left on device: '/s/.submitit/7/7_0_result.pkl.save_tmp'\n"
           "srun: error: vm: task 0: Exited with exit code 1\n")
    assert no_room(0, "", log) is None
    assert str(no_room(0, "", program_output(log))) == (
        "job 0 ended without a result: submitit could not make /s/.submitit/7/7_0_result.pkl.save_tmp (No space left "
        "on device)")
    assert slurm_lines(log) == "srun: error: vm: task 0: Exited with exit code 1"


class _Waited(Exception):
    """submitit slept, waiting for a result file."""


@pytest.mark.parametrize(("state", "waits"), [("CANCELLED by 0", False), ("TIMEOUT", False),
                                              ("OUT_OF_MEMORY", False), ("COMPLETED", True)])
def test_a_job_slurm_ended_is_told_without_waiting_for_a_result_file(tmp_path, monkeypatch, state, waits):
    """A job SLURM stopped (scancel, a limit) has no result coming: its outcome is submitit's error at once, not
    after 15 s of looking for the file, per job. A job SLURM says completed may still show its file late."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    import submitit.core.core
    from submitit.core.utils import UncompletedJobError
    from submitit.slurm.slurm import SlurmJob

    from rnn_sweep.cluster.slurm import SqueueWatcher, job_return

    job = SlurmJob(folder=tmp_path, job_id="77_1")
    job.watcher = SqueueWatcher(delay_s=600)
    job.watcher.register_job(job.job_id)
    job.watcher._info_dict[job.job_id] = {"JobID": job.job_id, "State": state, "NodeList": "vm"}
    job.watcher._last_status_check = submitit.core.core._time.time()  # what squeue said a moment ago

    def sleep(seconds: float) -> None:
        raise _Waited

    monkeypatch.setattr(submitit.core.core._time, "sleep", sleep)
    with pytest.raises(_Waited if waits else UncompletedJobError) as told:
        job_return(job)
    assert waits or f"state: {state}" in str(told.value)
