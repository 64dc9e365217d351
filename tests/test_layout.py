"""The architecture on disk: only train/ may import TensorFlow, and no two modules share a name."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rnn_sweep

PACKAGE = Path(rnn_sweep.__file__).parent
TENSORFLOW_FREE = ("config", "stats", "record", "data", "compare", "report", "sweep", "search", "cluster", "launch",
                   "commands")


def _modules(folder: str) -> list[str]:
    return [f"rnn_sweep.{folder}.{info.name}" for info in pkgutil.iter_modules([str(PACKAGE / folder)])]


@pytest.mark.parametrize("folder", TENSORFLOW_FREE)
def test_importing_a_folder_outside_train_loads_no_tensorflow(folder):
    modules = _modules(folder)
    assert modules, f"rnn_sweep/{folder} has no modules"
    probe = "import importlib, sys\n" + "".join(f"importlib.import_module({name!r})\n" for name in modules) + (
        "loaded = sorted(name for name in ('tensorflow', 'keras') if name in sys.modules)\nprint(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing rnn_sweep.{folder} loaded {result.stdout.strip()}"


def test_the_command_line_entry_loads_no_tensorflow():
    result = subprocess.run([sys.executable, "-c", "import sys, rnn_sweep.cli, rnn_sweep.launch.job; "
                             "print('tensorflow' in sys.modules)"], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_no_two_modules_share_a_name():
    names = [path.stem for path in PACKAGE.rglob("*.py") if path.stem not in ("__init__", "__main__")]
    twins = sorted({name for name in names if names.count(name) > 1})
    assert not twins, f"modules with the same name in different folders: {twins}"
