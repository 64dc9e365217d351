"""The fast tier (`pytest -m "not slow"`) fails when anything in it loads TensorFlow (helpers/tensorflow_guard.py).

Each case is a small pytest session of its own; a stand-in module named `tensorflow` (an empty module put into
sys.modules) plays TensorFlow, so the check costs no real import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each case is a pytest session of its own: seconds

TESTS = Path(__file__).parent
LOADS = 'sys.modules["tensorflow"] = types.ModuleType("tensorflow")'


def _session(tmp_path: Path, test_file: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: trains\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["helpers.tensorflow_guard"]\n')
    (tmp_path / "test_case.py").write_text(test_file)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


UNMARKED_TEST_LOADS = f"import sys, types\n\ndef test_builds_a_model():\n    {LOADS}\n"
MODULE_LOADS = (f"import sys, types\nimport pytest\n{LOADS}\n\n@pytest.mark.slow\ndef test_trains():\n    pass\n\n"
                "def test_fast():\n    pass\n")


@pytest.mark.parametrize(("test_file", "named"), [
    (UNMARKED_TEST_LOADS, "test_case.py::test_builds_a_model loaded TensorFlow"),
    (MODULE_LOADS, "importing test_case.py loaded TensorFlow"),
])
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_a_fast_session_that_loads_tensorflow_fails_naming_what_loaded_it(tmp_path, test_file, named, workers):
    result = _session(tmp_path, test_file, "-m", "not slow", *workers)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "TensorFlow loaded in the fast tier" in result.stdout and named in result.stdout, result.stdout


def test_a_session_with_slow_tests_may_load_tensorflow(tmp_path):
    result = _session(tmp_path, MODULE_LOADS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout and "fast tier" not in result.stdout


def test_a_fast_session_that_loads_nothing_passes(tmp_path):
    result = _session(tmp_path, "import pytest\n\n@pytest.mark.slow\ndef test_trains():\n    import tensorflow\n\n"
                                "def test_fast():\n    pass\n", "-m", "not slow")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 deselected" in result.stdout
