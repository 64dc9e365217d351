"""Shared fixtures: real MNIST and Fashion-MNIST found the way the tool finds them, real tiny sweeps made once, and
a SLURM that answers (the cluster tests).

Helpers that are not fixtures (tiny-run settings, the CLI as a user runs it, composed configs) are in tests/helpers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from browser import chromium
from helpers import cli, fuzz
from helpers.cli import run_cli
from helpers.runs import LEARNS, SEEDED_GRID, SHARED_GRID, TWO_SWEEPS_GRID
from helpers.shared import made_once

from rnn_sweep.data.loading import DataError, load_data, locate_data

pytest_plugins = ["helpers.tensorflow_guard"]


def pytest_configure(config: pytest.Config) -> None:
    fuzz.fast_tier = fuzz.deselects_slow(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The cluster tests first: they mostly wait on SLURM, so under pytest-xdist the other worker fills that time
    instead of the run ending on a lone minute-long wait."""
    items.sort(key=lambda item: item.get_closest_marker("cluster") is None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the test's fixtures: a test not marked slow trains nothing, so its commands may run in this process."""
    cli.fast_test = item.get_closest_marker("slow") is None


# Under CI (CI=true) a skipped test is a failure: CI exists to run every test. A skip whose reason contains one of
# the texts in RNN_SWEEP_ALLOWED_SKIPS (separated by `;`) is let through, so an allowed one is named in the CI script.
ALLOWED_SKIPS = "RNN_SWEEP_ALLOWED_SKIPS"


def _skip_is_a_failure(report: pytest.CollectReport | pytest.TestReport) -> str | None:
    """The reason a skip fails the run under CI, or None where it may stand (not CI, an xfail, an allowed reason)."""
    if os.environ.get("CI") != "true" or not report.skipped or hasattr(report, "wasxfail"):
        return None
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    allowed = [text for text in os.environ.get(ALLOWED_SKIPS, "").split(";") if text.strip()]
    if any(text.strip() in reason for text in allowed):
        return None
    return f"skipped under CI=true ({reason}); CI must run every test, or name the reason in {ALLOWED_SKIPS}"


def _fail_skips_under_ci(report: pytest.CollectReport | pytest.TestReport) -> None:
    failure = _skip_is_a_failure(report)
    if failure:
        report.outcome = "failed"
        report.longrepr = failure


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skips_under_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skips_under_ci(outcome.get_result())  # a module-level importorskip


def _no_data(reason: str) -> None:
    if os.environ.get("RNN_SWEEP_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason} (RNN_SWEEP_REQUIRE_DATA=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm() -> None:
    """A SLURM that answers; skip (or fail, under CI) with the reason when there is none."""
    reason = None
    if shutil.which("sbatch") is None:
        reason = "no sbatch on PATH"
    elif subprocess.run(["scontrol", "ping"], capture_output=True, timeout=30, check=False).returncode != 0:
        reason = "SLURM's controller does not answer (scontrol ping)"
    if reason:
        reason += ": start a one-node cluster with `bash scripts/local-slurm.sh up`"
        if os.environ.get("CI") == "true" or os.environ.get("RNN_SWEEP_REQUIRE_CLUSTER") == "1":
            pytest.fail(f"{reason} (CI runs the cluster tests)")
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


@pytest.fixture(scope="session")
def two_sweeps(tmp_path_factory, mnist_path) -> tuple[Path, Path]:
    """Two real tiny sweeps of the same grid, seeds 1 and 2 (the second with TensorBoard on), made once."""

    def make(root: Path) -> None:
        for seed, extra in ((1, ()), (2, ("train.tensorboard=true",))):
            result = run_cli(*TWO_SWEEPS_GRID, f"seed={seed}", *extra, f"hydra.sweep.dir={root / f'seed{seed}'}",
                             cwd=root, data=mnist_path)
            assert result.returncode == 0, result.stderr[-3000:]

    root = made_once(tmp_path_factory, "two_sweeps", make)
    return root / "seed1", root / "seed2"


@pytest.fixture(scope="session")
def seed_sweeps(tmp_path_factory, mnist_path) -> tuple[Path, Path]:
    """Two real 3-seed sweeps of one setting (GRU, 32 units, 2 epochs) that differ only in their seeds: 0-2, 10-12."""
    names = {"seeds-0-2": ("seeds=3",), "seeds-10-12": ("seed=10", "seeds=3")}

    def make(root: Path) -> None:
        for name, seeds in names.items():
            result = run_cli("-m", *LEARNS, "model.units=32", "train.epochs=2", *seeds,
                             f"hydra.sweep.dir={root / name}", cwd=root, data=mnist_path)
            assert result.returncode == 0, result.stderr[-3000:]

    root = made_once(tmp_path_factory, "seed_sweeps", make)
    return root / "seeds-0-2", root / "seeds-10-12"


def _sweep_made_once(tmp_path_factory, name: str, args: tuple[str, ...], data: str
                     ) -> tuple[Path, subprocess.CompletedProcess]:
    """The sweep `args` trains, made once per test run in Hydra's default output folder, with its command's exit
    status and output."""

    def make(cwd: Path) -> None:
        result = run_cli(*args, cwd=cwd, data=data)
        (cwd / "command.json").write_text(json.dumps([result.args, result.returncode, result.stdout, result.stderr]))

    cwd = made_once(tmp_path_factory, name, make)
    (sweep_dir,) = (cwd / "outputs" / "sweeps").iterdir()
    return sweep_dir, subprocess.CompletedProcess(*json.loads((cwd / "command.json").read_text()))


@pytest.fixture(scope="session")
def grid_sweep(tmp_path_factory, mnist_path) -> tuple[Path, subprocess.CompletedProcess]:
    """One 3-cell x 2-size sweep (six graphs), made once; tests that rebuild, resume or grow it work on a copy."""
    return _sweep_made_once(tmp_path_factory, "grid_sweep", SHARED_GRID, mnist_path)


@pytest.fixture(scope="session")
def seeded_grid(tmp_path_factory, mnist_path) -> tuple[Path, subprocess.CompletedProcess]:
    """A 2-cell x 2-size grid on 2 seeds (eight runs of one epoch), made once: factors, interactions and seeds."""
    return _sweep_made_once(tmp_path_factory, "seeded_grid", SEEDED_GRID, mnist_path)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, mnist_path) -> Path:
    """One real run far weaker than the seed sweeps' setting (4 units, 1 epoch), on seed 0's test images."""

    def make(root: Path) -> None:
        result = run_cli(*LEARNS, "model.units=4", "train.epochs=1", "seed=0", f"hydra.run.dir={root / 'run'}",
                         cwd=root, data=mnist_path)
        assert result.returncode == 0, result.stderr[-3000:]

    return made_once(tmp_path_factory, "small_run", make) / "run"


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
