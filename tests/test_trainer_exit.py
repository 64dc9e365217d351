"""How the training child ends once its last line is printed: its exit handlers run, with the exit status it was
given, but the interpreter's teardown (a second or so with TensorFlow loaded) is skipped, and a joblib worker pool
it used is stopped rather than waited for. Checked on small scripts that fork a trainer as the command does."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A command's trainer: forks as rnn_sweep.cli does, then ends with the given code the way its main() ends. A module
# global's __del__ runs only in the interpreter's teardown; an exit handler runs in every normal exit.
TRAINER = textwrap.dedent("""
    import atexit, os, sys, threading
    from pathlib import Path
    from rnn_sweep.launch import supervisor

    out = Path(sys.argv[1])
    trainer = supervisor.fork_trainer()
    if isinstance(trainer, supervisor.Trainer):  # the command's own process
        sys.exit(trainer.train(supervisor.Orders([], None, [], 0)).code)

    class Teardown:
        def __del__(self):
            (out / "teardown").write_text("ran")

    kept = Teardown()
    released = threading.Event()  # set once end_now has returned
    atexit.register(lambda: (out / "exit_handler").write_text("ran"))
    {work}
    print("last line", flush=True)
    try:
        sys.exit({code})
    except SystemExit as end:
        supervisor.finished()
        supervisor.end_now(end.code)
        released.set()
        raise
""")


def _run_trainer(tmp_path: Path, code: int, work: str = "") -> subprocess.CompletedProcess:
    script = tmp_path / "trainer.py"
    script.write_text(TRAINER.format(code=code, work=textwrap.dedent(work).strip()))
    return subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("code", [0, 3])
def test_a_trainer_ends_with_its_status_after_its_exit_handlers_and_without_the_teardown(tmp_path, code):
    done = _run_trainer(tmp_path, code)
    assert (done.returncode, done.stdout, done.stderr) == (code, "last line\n", "")
    assert (tmp_path / "exit_handler").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()


def test_a_trainer_with_a_thread_still_at_work_ends_as_python_does(tmp_path):
    """Python waits for a thread that is not a daemon before its exit handlers: so does the trainer."""
    done = _run_trainer(tmp_path, 0, work="""
        threading.Thread(target=lambda: (released.wait(), (out / "thread").write_text("done"))).start()
    """)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "teardown").read_text() == "ran"


def test_a_trainer_stops_the_joblib_workers_it_used_and_still_skips_the_teardown(tmp_path):
    pytest.importorskip("joblib")
    done = _run_trainer(tmp_path, 0, work="""
        from joblib import Parallel, delayed
        workers = set(Parallel(n_jobs=2, backend="loky")(delayed(os.getpid)() for _ in range(4)))
        (out / "workers").write_text(" ".join(map(str, workers)))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert not (tmp_path / "teardown").exists()
    for pid in map(int, (tmp_path / "workers").read_text().split()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# A command that forks its trainer first and checks itself meanwhile: the trainer warms up, then gets its orders.
EARLY_TRAINER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from rnn_sweep.launch import supervisor

    out = Path(sys.argv[1])

    def wait_for(path, what):
        deadline = time.monotonic() + 60
        while not path.exists():
            if time.monotonic() > deadline:
                sys.exit(f"no {what} within 60 s")
            time.sleep(0.01)

    def warm_up():
        (out / "warm").write_text(str(os.getpid()))
        wait_for(out / "orders_seen", "orders")  # the orders came while this still ran

    def on_orders(orders):
        (out / "orders_seen").write_text(" ".join(orders.argv))

    trainer = supervisor.fork_trainer(warm_up, on_orders)
    if isinstance(trainer, supervisor.Orders):  # the trainer, warmed, with its orders
        print("trained", *trainer.argv, trainer.run_dir, trainer.work, trainer.workers, flush=True)
        sys.exit(0)
    wait_for(out / "warm", "warm-up")  # the command checks itself meanwhile
    if sys.argv[2] == "dismiss":
        trainer.dismiss()
        print("dismissed", flush=True)
        sys.exit(0)
    ended = trainer.train(supervisor.Orders(["model=gru", "seed=3"], "/runs/0", [[["seed=3"], 2.5]], 1))
    sys.exit(ended.code)
""")


def test_a_trainer_forked_first_warms_up_while_the_command_checks_and_then_trains_its_orders(tmp_path):
    """The trainer runs its warm-up before the command is done checking (the warm-up sees the orders arrive while
    it still runs, through `on_orders`, which may start other processes meanwhile), then trains what it was told."""
    script = tmp_path / "command.py"
    script.write_text(EARLY_TRAINER)
    done = subprocess.run([sys.executable, str(script), str(tmp_path), "train"], capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "trained model=gru seed=3 /runs/0 [[['seed=3'], 2.5]] 1\n"
    assert (tmp_path / "orders_seen").read_text() == "model=gru seed=3"
    assert int((tmp_path / "warm").read_text()) != os.getpid()


def test_a_trainer_the_command_dismisses_ends_at_once_and_says_nothing(tmp_path):
    """A command that trains nowhere (a bad config, Hydra's --cfg, jobs on a cluster) ends its warming trainer,
    whatever that is doing: the command's own output is all there is."""
    script = tmp_path / "command.py"
    script.write_text(EARLY_TRAINER)
    done = subprocess.run([sys.executable, str(script), str(tmp_path), "dismiss"], capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "dismissed\n", "")
    pid = int((tmp_path / "warm").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: no process left behind
