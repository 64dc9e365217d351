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
    ended = supervisor.train_in_child()
    if ended is not None:  # the command's own process
        sys.exit(ended.code)

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
