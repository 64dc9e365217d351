"""Progress inside an epoch: a live display on a real (pseudo-)terminal (test_cli checks the plain lines of a pipe)."""

from __future__ import annotations

import fcntl
import json
import math
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from helpers.cli import cli_env
from helpers.runs import PROGRESS_SMALL as SMALL

from rnn_sweep.sweep.progress import SweepClock

# Enough steps (about 60 an epoch) and a first epoch long enough (tracing) for several redraws.


def run_in_terminal(*args: str, cwd: Path, data: str, timeout: float = 300) -> tuple[int, str]:
    """`python -m rnn_sweep ARGS` with stdout on a pseudo-terminal of 160 columns, as a person's shell runs it."""
    env = {**cli_env(data), "TERM": "xterm-256color", "COLUMNS": "160"}
    for key in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(key, None)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "rnn_sweep", *args], cwd=cwd, env=env, stdin=terminal,
                               stdout=terminal, stderr=subprocess.DEVNULL)
    os.close(terminal)
    output, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([controller], [], [], 1)[0]:
                try:
                    chunk = os.read(controller, 1 << 16)
                except OSError:  # Linux: EIO once the last writer closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    return process.wait(), output.decode("utf-8", "replace")


@pytest.mark.slow
def test_a_terminal_gets_a_live_display_inside_each_epoch(tmp_path, mnist_path):
    sweep = tmp_path / "sweep"
    code, output = run_in_terminal("-m", *SMALL, "data.limit_train=2000", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
                                   data=mnist_path)
    assert code == 0, output[-3000:]
    steps = math.ceil(json.loads((sweep / "0" / "result.json").read_text())["train_samples"] / 32)
    assert "\x1b[?25l" in output and "\x1b[2K" in output  # the cursor hidden, lines redrawn in place
    plain = _without_escapes(output)
    bars = [line for line in plain.splitlines() if "steps" in line and "ETA" in line]
    assert any(f" 0/{steps} steps" in bar for bar in bars)  # steps done of the epoch's total, from the start
    assert any(re.search(rf"{steps}/{steps} steps .*loss \d\.\d{{4}} acc \d\.\d{{4}}", bar) for bar in bars), bars
    assert plain.count("job 1/1") > 2  # the sweep's line above the bar, redrawn with it
    assert "epoch 1/2  loss" in plain and "epoch 2/2  loss" in plain  # the one-line summary replaces the bar
    assert (sweep / "report.html").is_file()


def test_the_sweep_line_counts_down_without_reading_files():
    clock = SweepClock("job 3/4", started=1000.0, finishes_at=1100.0)
    assert clock.line(now=1040.0) == "job 3/4 · 40s elapsed · about 1m00s left"
    assert clock.line(now=1200.0) == "job 3/4 · 3m20s elapsed · about 0s left"
    assert SweepClock("job 1/?").line() == "job 1/?"


def _without_escapes(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
