"""Runs started at the same moment never share a folder, and two identical sweeps in one folder train each job once."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from helpers.cli import cli_env, communicate, start_cli, wait_until
from helpers.runs import SIDE_BY_SIDE_TINY as TINY

from rnn_sweep.sweep.claims import claim, holder, is_held
from rnn_sweep.sweep.folders import claim_new_folder


def _claim_after(barrier: multiprocessing.Barrier, base: str, queue: multiprocessing.Queue) -> None:
    barrier.wait()
    queue.put(str(claim_new_folder(Path(base))))


def test_folders_claimed_at_the_same_moment_by_many_processes_are_all_distinct(tmp_path):
    base = tmp_path / "outputs" / "runs" / "2026-01-01_10-00-00"
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(12), context.Queue()
    processes = [context.Process(target=_claim_after, args=(barrier, str(base), queue)) for _ in range(12)]
    for process in processes:
        process.start()
    claimed = sorted(queue.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    assert len(set(claimed)) == 12
    assert set(claimed) == {str(base)} | {f"{base}-{number}" for number in range(2, 13)}


# Holds run_dir's claim until `release` exists, as a job process on another node would.
_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from rnn_sweep.sweep.claims import claim
    run_dir, release = Path(sys.argv[1]), Path(sys.argv[2])
    deadline = time.monotonic() + 300  # a test that failed before releasing it leaves no holder behind
    with claim(run_dir, on_wait=print):
        (run_dir / "held").touch()
        while not release.exists():
            if time.monotonic() > deadline:
                sys.exit(f"{release} did not appear within 300 s")
            time.sleep(0.02)
""")


def _hold(run_dir: Path, release: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run_dir), str(release)], env=cli_env(None))
    def held() -> bool:
        assert process.poll() is None, f"the holder ended (exit {process.returncode}) before claiming {run_dir}"
        return (run_dir / "held").exists()

    wait_until(held, f"claim of {run_dir} by the holder process")
    return process


def test_a_claimed_job_folder_makes_the_next_claimant_wait_and_a_killed_holder_frees_it(tmp_path):
    run_dir, release = tmp_path / "job", tmp_path / "release"
    first = _hold(run_dir, release)
    assert is_held(run_dir) and holder(run_dir)["pid"] == first.pid
    waited_for, outcome = [], []

    def second_claimant() -> None:
        with claim(run_dir, on_wait=waited_for.append) as waited:
            outcome.append((waited, holder(run_dir)["pid"]))

    thread = threading.Thread(target=second_claimant)
    thread.start()
    wait_until(lambda: waited_for, "report from the second claimant that it waits")
    assert waited_for[0]["pid"] == first.pid and not outcome  # told who holds it, and waiting
    release.touch()
    thread.join(timeout=60)
    assert outcome == [(True, os.getpid())] and first.wait(timeout=60) == 0

    # SIGKILL gives no chance to clean up: the kernel frees the lock, so the stale claim never blocks a resume.
    release.unlink()
    (run_dir / "held").unlink()
    killed = _hold(run_dir, release)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    assert holder(run_dir)["pid"] == killed.pid and not is_held(run_dir)
    with claim(run_dir, on_wait=waited_for.append) as waited:
        assert not waited and holder(run_dir)["pid"] == os.getpid()


def _taken_for_two_minutes(folder: Path) -> set[Path]:
    """Every stamped name of the next two minutes made already, so the runs below must claim suffixed ones."""
    now = datetime.now()
    taken = {folder / (now + timedelta(seconds=second)).strftime("%Y-%m-%d_%H-%M-%S") for second in range(-5, 120)}
    for path in taken:
        path.mkdir(parents=True)
    return taken


@pytest.mark.slow
def test_runs_and_sweeps_started_together_keep_every_result_in_its_own_folder(tmp_path, mnist_path):
    taken = _taken_for_two_minutes(tmp_path / "outputs" / "runs") | _taken_for_two_minutes(
        tmp_path / "outputs" / "sweeps")
    processes = [start_cli(*TINY, f"seed={seed}", cwd=tmp_path, data=mnist_path) for seed in (1, 2)]
    processes += [start_cli("-m", *TINY, f"seed={seed}", "model.units=4,8", cwd=tmp_path, data=mnist_path)
                  for seed in (3, 4)]
    for process in processes:
        _, stderr = communicate(process, timeout=600)
        assert process.returncode == 0, stderr[-3000:]
    assert all(not any(path.iterdir()) for path in taken), "a folder that was taken got written into"

    runs = [path for path in (tmp_path / "outputs" / "runs").iterdir() if path not in taken]
    assert sorted(json.loads((run / "result.json").read_text())["seed"] for run in runs) == [1, 2]
    assert all(run.name.rsplit("-", 1)[1].isdigit() for run in runs)  # <stamp>-N: the stamp was taken
    sweeps = [path for path in (tmp_path / "outputs" / "sweeps").iterdir() if path not in taken]
    tables = [pd.read_csv(sweep / "results.csv") for sweep in sweeps]
    assert sorted(table["seed"].unique().tolist() for table in tables) == [[3], [4]]
    assert all(sorted(table["units"]) == [4, 8] and (table["status"] == "ok").all() for table in tables)


@pytest.mark.slow
def test_two_identical_sweeps_in_one_folder_train_each_job_once(tmp_path, mnist_path):
    sweep_dir = tmp_path / "sweep"
    sweep = ("-m", *TINY, "model.units=4,8,12", f"hydra.sweep.dir={sweep_dir}")
    processes = [start_cli(*sweep, cwd=tmp_path, data=mnist_path) for _ in range(2)]
    outputs = []
    for process in processes:
        stdout, stderr = communicate(process, timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        outputs.append(stdout)
    trained = sum(stdout.count("epoch 1/1") for stdout in outputs)
    skipped = sum(stdout.count("skipped:") for stdout in outputs)
    assert (trained, skipped) == (3, 3), outputs
    results = pd.read_csv(sweep_dir / "results.csv")
    assert sorted(results["units"]) == [4, 8, 12] and (results["status"] == "ok").all()
    assert sorted(path.parent.name for path in sweep_dir.glob("*/result.json")) == ["0", "1", "2"]
