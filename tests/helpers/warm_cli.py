"""A CLI process kept warm for the tests that train: it has imported rnn-sweep and TensorFlow once, and forks a child
for each command, which then runs exactly as `python -m rnn_sweep ARGS` would, in its own process, folder and
environment, writing to the test's own pipes. Each command that trains thus skips the 5 to 8 s a fresh interpreter
spends importing Python, Hydra and TensorFlow, most of the slow tier's time.

Run as a script, it serves commands on the Unix socket named by its argument (tests/helpers/cli.py starts it once
per test session), each watched by a process of its own, so several can run at once. A request is one JSON line
(args, cwd, env, `umask` (None: the server's), and `session`: start the command in a session and process group of
its own, as a shell does) with the command's stdout and stderr as file descriptors beside it; the answer is the
command's pid, then its exit status as subprocess gives it (negative: the signal that ended it). The tests whose
subject is a fresh process (start-up logs, what a command imports, signals during start-up, memory limits) start one
as before.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import runpy
import signal
import socket
import sys
import threading


def _warm_up() -> None:
    """Import what every training command imports, the way the CLI does (its quiet environment first), and what a
    sweep imports once its jobs have ended, to write its tables and page (pandas, matplotlib, statsmodels,
    TensorBoard's HParams: about 0.6 s of CPU a sweep)."""
    from rnn_sweep.train.startup_logs import import_tensorflow, quiet_environment

    quiet_environment()
    import_tensorflow()
    import rnn_sweep.cli  # noqa: F401
    import rnn_sweep.launch.job  # noqa: F401
    import rnn_sweep.report.sweep_report  # noqa: F401
    import rnn_sweep.train.runner  # noqa: F401


def _run_command(request: dict, out: int, err: int) -> None:
    """In the forked child: become `python -m rnn_sweep ARGS` run in `cwd` with `env`, and exit as it would."""
    null = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(source, target)
    for descriptor in (null, out, err):
        os.close(descriptor)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if request.get("umask") is not None:
        os.umask(request["umask"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[0] = os.getcwd()
    sys.argv = ["-m", *request["args"]]
    code: object = 0
    try:
        runpy.run_module("rnn_sweep", run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code
    except BaseException:  # noqa: BLE001 - a child process prints what it died of, as Python does
        import traceback

        traceback.print_exc()
        code = 1
    # What the interpreter does on its way out, which os._exit skips, in its order: threading's exit callbacks
    # (joblib's executor tells its workers to stop), then atexit's; joblib's semaphores, once freed, tell its resource
    # tracker so (else the tracker warns of them on the command's stderr, and its idle workers keep the command's
    # pipes open for their 300 s timeout).
    threading._shutdown()
    atexit._run_exitfuncs()
    gc.collect()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def _serve(path: str) -> None:
    _warm_up()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    print("ready", flush=True)
    while True:
        connection, _ = server.accept()
        with connection:
            message, descriptors, _, _ = socket.recv_fds(connection, 1 << 16, 2)
            while not message.endswith(b"\n"):
                message += connection.recv(1 << 16)
            request = json.loads(message.decode())
            if os.fork() == 0:  # one watcher per command, so commands can run side by side
                server.close()
                _watch(request, connection, descriptors)
            for descriptor in descriptors:
                os.close(descriptor)
        _reap_watchers()


def _watch(request: dict, connection: socket.socket, descriptors: list[int]) -> None:
    """In a watcher process: fork the command, tell its pid, wait for it, tell how it ended, and exit."""
    pid = os.fork()
    if pid == 0:
        connection.close()
        if request.get("session"):
            os.setsid()  # its own process group, as a shell starts a command: Ctrl-C (killpg) reaches it alone
        _run_command(request, *descriptors)
    for descriptor in descriptors:
        os.close(descriptor)
    _answer(connection, pid)
    _, status = os.waitpid(pid, 0)
    _answer(connection, -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
    os._exit(0)


def _reap_watchers() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _answer(connection: socket.socket, number: int) -> None:
    """Send one line; a client gone (it timed out and killed the command) is no reason to stop serving."""
    with contextlib.suppress(OSError):
        connection.sendall(f"{number}\n".encode())


if __name__ == "__main__":
    _serve(sys.argv[1])
