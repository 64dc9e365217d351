"""The CLI run as a user runs it: `python -m rnn_sweep ARGS`, started, signalled and waited for; and `run_probe`,
which checks that a command stops before TensorFlow.

A command that cannot train runs in the test's own process through `rnn_sweep.cli.run`, the function the console
script calls, with the same environment, folder, output and exit status a child process would have: `compare` and
`report` always, and every command of a test not marked `slow` (the fast tier trains nothing, so its commands must
stop before TensorFlow: importing it there fails the command). A second interpreter and its imports cost seconds
per command, most of the fast tier's time. Everything that trains, or is signalled, runs in a process of its own:
`run_cli` forks it from the warm CLI (tests/helpers/warm_cli.py), `start_cli` starts a fresh interpreter.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.abc
import io
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

# Runs the CLI in-process, then reports whether TensorFlow had been imported by the time it exited.
NO_TF_PROBE = """
import sys
from rnn_sweep.cli import main
try:
    main(sys.argv[1:])
finally:
    print("TENSORFLOW-IMPORTED" if "tensorflow" in sys.modules else "TENSORFLOW-NOT-IMPORTED")
"""


def run_probe(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI run as NO_TF_PROBE runs it: stdout ends by saying whether TensorFlow was imported.

    While this process has not loaded TensorFlow (the fast tier), it runs here, without a second interpreter's
    start-up; once a slow test has loaded it, only a fresh process can tell, so it runs in one.
    """
    if "tensorflow" in sys.modules:
        return subprocess.run([sys.executable, "-c", NO_TF_PROBE, *args], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)
    return _run_here(list(args), cwd)


class _RefuseTensorflow(importlib.abc.MetaPathFinder):
    """Makes importing TensorFlow or Keras fail at once, noting that it was tried: a probed command that got past
    its checks fails in a moment instead of training in the test's process."""

    tried = False

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in ("tensorflow", "keras"):
            self.tried = True
            raise ImportError(f"{name} imported by a command run by run_probe, which must stop before TensorFlow")
        return None


def _run_here(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`rnn_sweep.cli.run(args)` in `cwd` (with the environment `env`, if given), its output captured, and the
    process's environment, folder and argv put back afterwards; an exception becomes a traceback on stderr and exit
    status 1, as in a child process."""
    from rnn_sweep.cli import run

    out, err = io.StringIO(), io.StringIO()
    environ, argv, folder = dict(os.environ), list(sys.argv), Path.cwd()
    refuse = _RefuseTensorflow()
    sys.meta_path.insert(0, refuse)
    os.chdir(cwd)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    widths = _consoles_as_started()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = run(args)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except Exception:
                traceback.print_exc()
                code = 1
            finally:
                print("TENSORFLOW-IMPORTED" if refuse.tried else "TENSORFLOW-NOT-IMPORTED")
    finally:
        sys.meta_path.remove(refuse)
        for console_, width in widths:
            console_.width = width
        os.chdir(folder)
        sys.argv[:] = argv
        os.environ.clear()
        os.environ.update(environ)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def _consoles_as_started() -> list[tuple[object, int]]:
    """Give the CLI's consoles the width a fresh process would read from COLUMNS (rich fixes it when its console is
    made, if COLUMNS was set then); returns each console with its width before, to put back."""
    from rnn_sweep import console

    consoles = [(console_, console_.width) for console_ in (console.stdout, console.stderr)]
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        for console_, _ in consoles:
            console_.width = int(columns)
    return consoles


def cli_env(data: str | None) -> dict[str, str]:
    """The environment the CLI runs in: RNN_SWEEP_DATA set to `data` (unset for None), output unbuffered and wide.

    PYTHONFAULTHANDLER: a crash or SIGABRT prints every thread's Python stack, for tests to show when a command hangs.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", "PYTHONFAULTHANDLER": "1"}
    env.pop("RNN_SWEEP_DATA", None)
    if data is not None:
        env["RNN_SWEEP_DATA"] = data
    return env


# Subcommands that never train (nor import TensorFlow): they run in the test's process in every tier.
_NEVER_TRAIN = ("compare", "report")

# Whether the running test may run any command in this process: set for each test before its fixtures (conftest).
fast_test = False


def run_cli(*args: str, cwd: Path, data: str | None = None, timeout: float = 600, fresh: bool = False,
            env: dict[str, str] | None = None, umask: int | None = None) -> subprocess.CompletedProcess:
    """`python -m rnn_sweep ARGS` in `cwd`, as a user would type it, with RNN_SWEEP_DATA set to `data`, `env` set
    beyond cli_env's variables and, given one, under `umask`; in this process where the command cannot train (and
    needs no umask of its own), else forked from the warm CLI (tests/helpers/warm_cli.py) unless `fresh` asks for
    a new interpreter (a test of the command's own start-up) or RNN_SWEEP_TESTS_FRESH=1 does."""
    environment = {**cli_env(data), **(env or {})}
    if umask is None and (fast_test or (args and args[0] in _NEVER_TRAIN)):
        return _run_here(list(args), cwd, env=environment)
    if not fresh and os.environ.get("RNN_SWEEP_TESTS_FRESH") != "1":
        return _warm_cli().run(list(args), cwd, environment, timeout, umask)
    return subprocess.run(
        [sys.executable, "-m", "rnn_sweep", *args], cwd=cwd, env=environment, capture_output=True, text=True,
        timeout=timeout, check=False, preexec_fn=None if umask is None else functools.partial(os.umask, umask),
    )


class _WarmCli:
    """The client of one warm CLI process (tests/helpers/warm_cli.py), started on first use, ended with pytest."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="rnn-sweep-warm-cli-"))
        self.socket = str(self.folder / "socket")
        env = cli_env(None)
        env.pop("COLUMNS")  # read by each command from its own environment, not fixed when the consoles are made
        self.log = open(self.folder / "server.log", "w+")  # noqa: SIM115 - open for the server's whole life
        self.server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("warm_cli.py")), self.socket],
                                       env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        if self.server.stdout.readline().strip() != "ready":
            self.log.seek(0)
            raise RuntimeError(f"the warm CLI did not start: {self.log.read()[-3000:]}")
        atexit.register(self.close)

    def run(self, args: list[str], cwd: Path, env: dict[str, str], timeout: float,
            umask: int | None = None) -> subprocess.CompletedProcess:
        process = self.start(args, cwd, env, session=False, umask=umask)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            raise
        return subprocess.CompletedProcess(process.args, process.returncode, *process.communicate())

    def start(self, args: list[str], cwd: Path, env: dict[str, str], session: bool = True,
              umask: int | None = None) -> WarmProcess:
        """Fork the command; `session`: in a session and process group of its own, as a shell starts a command;
        `umask`: the command's (None: the server's)."""
        request = json.dumps({"args": args, "cwd": str(cwd), "env": env, "session": session,
                              "umask": umask}).encode() + b"\n"
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(self.socket)
        # Files, not pipes: no output can block the command. Closed once communicate has read them.
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
        socket.send_fds(connection, [request], [out.fileno(), err.fileno()])
        return WarmProcess([sys.executable, "-m", "rnn_sweep", *args], connection, out, err)

    def close(self) -> None:
        self.server.kill()
        self.server.wait()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class WarmProcess:
    """A command forked from the warm CLI, with the part of subprocess.Popen's interface the tests use: pid,
    returncode, poll, wait, send_signal, communicate (text)."""

    def __init__(self, args: list[str], connection: socket.socket, out: IO[bytes], err: IO[bytes]) -> None:
        self.args, self._connection, self._out, self._err = args, connection, out, err
        self._received = b""
        self._output: tuple[str, str] | None = None
        self.returncode: int | None = None
        self.pid = int(self._line(None))

    def _line(self, timeout: float | None) -> str | None:
        """The server's next line, or None if none came within `timeout` seconds (None: wait for it)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._received:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._connection], [], [], left)[0]:
                return None
            chunk = self._connection.recv(64)
            if not chunk:
                raise RuntimeError(f"the warm CLI stopped answering about {self.args}")
            self._received += chunk
        line, self._received = self._received.split(b"\n", 1)
        return line.decode()

    def poll(self) -> int | None:
        self._ended(0)
        return self.returncode

    def _ended(self, timeout: float | None) -> bool:
        if self.returncode is None and (line := self._line(timeout)) is not None:
            self.returncode = int(line)
            self._connection.close()
        return self.returncode is not None

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        if self._output is None:
            self._output = tuple(_read_all(file) for file in (self._out, self._err))
        return self._output


def _read_all(file: IO[bytes]) -> str:
    with file:
        file.seek(0)
        return file.read().decode(errors="replace")


@functools.cache
def _warm_cli() -> _WarmCli:
    return _WarmCli()


def start_cli(*args: str, cwd: Path, data: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen | WarmProcess:
    """`python -m rnn_sweep ARGS` started in its own process group (as a shell starts a command), to send signals to;
    `env`: variables set for it beyond cli_env's. Forked from the warm CLI, like run_cli's commands, unless
    RNN_SWEEP_TESTS_FRESH=1: the handle has what the tests use of subprocess.Popen's."""
    environment = {**cli_env(data), **(env or {})}
    if os.environ.get("RNN_SWEEP_TESTS_FRESH") == "1":
        return _start([sys.executable, "-m", "rnn_sweep", *args], cwd, environment)
    return _warm_cli().start(list(args), cwd, environment)


def _start(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """`command` in its own process group (as a shell starts a command), its output captured as text."""
    return subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# Runs the CLI as `python -m rnn_sweep ARGS` does, and sends the process a signal the moment the module named
# first begins to load (argv: MODULE SIGNUM ARGS): a moment of start-up a test names, where a sleep hits it only now
# and then. The signal arrives in the middle of the import of whatever imports that module, as a real one can.
SIGNAL_AT_IMPORT = """
import importlib.abc, os, runpy, sys

class SignalAtImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == MODULE:
            sys.meta_path.remove(self)
            print(f"signal sent as {name} began to load", flush=True)
            os.kill(os.getpid(), SIGNUM)
        return None

MODULE, SIGNUM = sys.argv[1], int(sys.argv[2])
del sys.argv[1:3]
sys.meta_path.insert(0, SignalAtImport())
runpy.run_module("rnn_sweep", run_name="__main__", alter_sys=True)
"""


def start_cli_signalled_at(module: str, signum: int, *args: str, cwd: Path, data: str | None = None
                           ) -> subprocess.Popen:
    """start_cli's command, sent `signum` as `module` begins to load; its stdout says when that happened."""
    return _start([sys.executable, "-c", SIGNAL_AT_IMPORT, module, str(int(signum)), *args], cwd, cli_env(data))


def wait_for(condition: Callable[[], object], process: subprocess.Popen | WarmProcess, what: str,
             timeout: float = 300) -> None:
    """Poll `condition` until it holds; fail with the process's stderr if the process ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            stderr = process.communicate()[1]
            pytest.fail(f"the command ended (exit {process.returncode}) before {what}: {stderr[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.05)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 120) -> None:
    """Poll `condition` until it holds; fail naming `what` if it does not within `timeout` seconds (never hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.02)


def communicate(process: subprocess.Popen | WarmProcess, timeout: float) -> tuple[str, str]:
    """Wait for the process to end; if it hangs, fail with its Python stacks (SIGABRT makes faulthandler print them):
    first those of the processes it started (its trainer, in a process group of its own, and the trainer's workers),
    then, if it has not ended after them, its own."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in _descendants(process.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGABRT)
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"the command had not ended {timeout:.0f} s after the signal; its stacks and output:\n"
                    f"{stderr[-6000:]}\n{stdout[-2000:]}")


def _descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs (Linux's /proc; none where it cannot tell)."""
    try:
        children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [*children, *(grandchild for child in children for grandchild in _descendants(child))]
