"""Shared fixtures: real MNIST and Fashion-MNIST found the way the tool finds them, and the CLI run in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from browser import chromium
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from rnn_sweep.config.paths import conf_dir
from rnn_sweep.config.schema import register
from rnn_sweep.config.validate import validate
from rnn_sweep.data.loading import DataError, load_data, locate_data

# Runs the CLI in-process, then reports whether TensorFlow had been imported by the time it exited.
NO_TF_PROBE = """
import sys
from rnn_sweep.cli import main
try:
    main(sys.argv[1:])
finally:
    print("TENSORFLOW-IMPORTED" if "tensorflow" in sys.modules else "TENSORFLOW-NOT-IMPORTED")
"""


def _no_data(reason: str) -> None:
    if os.environ.get("RNN_SWEEP_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason} (RNN_SWEEP_REQUIRE_DATA=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mnist_path() -> str:
    """A data.path for real MNIST: $RNN_SWEEP_DATA, else Keras' cache, else Keras' download."""
    try:
        source = locate_data(None)
        if source.kind == "download":
            load_data(source)  # fills Keras' cache, where a network allows
            source = locate_data(None)
    except DataError as error:
        _no_data(f"no MNIST found: set RNN_SWEEP_DATA to a folder with MNIST ({error})")
    return str(source.location)


@pytest.fixture(scope="session")
def mnist(mnist_path: str):
    """The real arrays, decoded and verified once per session."""
    return load_data(locate_data(mnist_path))


@pytest.fixture(scope="session")
def fashion_path() -> str:
    """A data.path for real Fashion-MNIST: $RNN_SWEEP_FASHION_DATA, /usr/share/datasets/fashion-mnist (Debian's
    dataset-fashion-mnist), Keras' cache, else Keras' download."""
    try:
        source = locate_data(None, "fashion_mnist")
        if source.kind == "download":
            load_data(source)  # fills Keras' cache, where a network allows
            source = locate_data(None, "fashion_mnist")
    except DataError as error:
        _no_data(f"no Fashion-MNIST found: apt-get install dataset-fashion-mnist, or set RNN_SWEEP_FASHION_DATA "
                 f"({error})")
    return str(source.location)


@pytest.fixture(scope="session")
def fashion(fashion_path: str):
    return load_data(locate_data(fashion_path, "fashion_mnist"))


def compose_config(*overrides: str, hydra: bool = False) -> DictConfig:
    """The config `rnn-sweep OVERRIDES` would compose, as Hydra gives it (not yet validated)."""
    register()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


def typed_config(*overrides: str) -> DictConfig:
    """The composed config after validation, as a job receives it."""
    return validate(compose_config(*overrides))


def run_probe(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI run in-process by NO_TF_PROBE: stdout ends by saying whether TensorFlow was imported."""
    return subprocess.run([sys.executable, "-c", NO_TF_PROBE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


def cli_env(data: str | None) -> dict[str, str]:
    """The environment the CLI runs in: RNN_SWEEP_DATA set to `data` (unset for None), output unbuffered and wide.

    PYTHONFAULTHANDLER: a crash or SIGABRT prints every thread's Python stack, for tests to show when a command hangs.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", "PYTHONFAULTHANDLER": "1"}
    env.pop("RNN_SWEEP_DATA", None)
    if data is not None:
        env["RNN_SWEEP_DATA"] = data
    return env


def run_cli(*args: str, cwd: Path, data: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m rnn_sweep ARGS` in `cwd`, as a user would type it, with RNN_SWEEP_DATA set to `data`."""
    return subprocess.run(
        [sys.executable, "-m", "rnn_sweep", *args],
        cwd=cwd, env=cli_env(data), capture_output=True, text=True, timeout=timeout, check=False,
    )


def start_cli(*args: str, cwd: Path, data: str | None = None) -> subprocess.Popen:
    """`python -m rnn_sweep ARGS` started in its own process group (as a shell starts a command), to send signals to."""
    return subprocess.Popen(
        [sys.executable, "-m", "rnn_sweep", *args], cwd=cwd, env=cli_env(data), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(condition: Callable[[], object], process: subprocess.Popen, what: str, timeout: float = 300) -> None:
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


def communicate(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """Wait for the process to end; if it hangs, fail with its Python stacks (SIGABRT makes faulthandler print them)."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGABRT)
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"the command had not ended {timeout:.0f} s after the signal; its stacks and output:\n"
                    f"{stderr[-6000:]}\n{stdout[-2000:]}")


TINY = ("model.units=8", "data.limit_train=300", "data.limit_test=100", "train.epochs=2", "train.batch_size=64",
        "train.save_model=false", "train.device=cpu", "train.deterministic=true")


@pytest.fixture(scope="session")
def two_sweeps(tmp_path_factory, mnist_path) -> tuple[Path, Path]:
    """Two real tiny sweeps of the same grid, seeds 1 and 2 (the second with TensorBoard on), made once."""
    root = tmp_path_factory.mktemp("sweeps")
    folders = []
    for seed, extra in ((1, ()), (2, ("train.tensorboard=true",))):
        folder = root / f"seed{seed}"
        result = run_cli("-m", "model=simple_rnn,gru", *TINY, f"seed={seed}", *extra, f"hydra.sweep.dir={folder}",
                         cwd=root, data=mnist_path)
        assert result.returncode == 0, result.stderr[-3000:]
        folders.append(folder)
    return folders[0], folders[1]


# Big enough to learn something in seconds (about 0.55 test accuracy for a GRU of 32 units), small enough for CI.
LEARNS = ("model=gru", "data.limit_train=600", "data.limit_test=500", "train.batch_size=16",
          "optimizer.learning_rate=0.01", "train.save_model=false", "train.device=cpu", "train.deterministic=true")


@pytest.fixture(scope="session")
def seed_sweeps(tmp_path_factory, mnist_path) -> tuple[Path, Path]:
    """Two real 3-seed sweeps of one setting (GRU, 32 units, 2 epochs) that differ only in their seeds: 0-2, 10-12."""
    root = tmp_path_factory.mktemp("seed_sweeps")
    folders = []
    for name, seeds in (("seeds-0-2", ("seeds=3",)), ("seeds-10-12", ("seed=10", "seeds=3"))):
        result = run_cli("-m", *LEARNS, "model.units=32", "train.epochs=2", *seeds, f"hydra.sweep.dir={root / name}",
                         cwd=root, data=mnist_path)
        assert result.returncode == 0, result.stderr[-3000:]
        folders.append(root / name)
    return folders[0], folders[1]


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, mnist_path) -> Path:
    """One real run far weaker than the seed sweeps' setting (4 units, 1 epoch), on seed 0's test images."""
    root = tmp_path_factory.mktemp("small_run")
    result = run_cli(*LEARNS, "model.units=4", "train.epochs=1", "seed=0", f"hydra.run.dir={root / 'run'}",
                     cwd=root, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run"


@pytest.fixture(scope="session")
def browser() -> str:
    """Headless Chromium; CI must have it, elsewhere the browser tests are skipped without it."""
    found = chromium()
    if found is None:
        reason = "headless Chromium not found: `apt-get install chromium` (Debian) to run the browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run them")
        pytest.skip(reason)
    return found
