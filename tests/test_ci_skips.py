"""Under CI=true a skipped test fails the run, unless RNN_SWEEP_ALLOWED_SKIPS names its reason (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PROBES = """
import pytest

def test_skips():
    pytest.skip("no frobnicator here")

@pytest.mark.skipif(True, reason="root may write into read-only folders")
def test_marked():
    pass

@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    assert False

def test_runs():
    pass
"""


@pytest.fixture
def probes(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_probes=PROBES)
    return pytester


def test_skips_pass_outside_ci(probes, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    probes.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, skipped=2, xfailed=1)


def test_a_skip_under_ci_fails_with_its_reason(probes, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("RNN_SWEEP_ALLOWED_SKIPS", raising=False)
    result = probes.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)  # a skipif mark fails in setup: an error
    result.stdout.fnmatch_lines(["*skipped under CI=true (Skipped: no frobnicator here); CI must run every test, or "
                                 "name the reason in RNN_SWEEP_ALLOWED_SKIPS*"])


def test_an_allowed_reason_may_skip_under_ci(probes, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("RNN_SWEEP_ALLOWED_SKIPS", "frobnicator;root may write")
    probes.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, skipped=2, xfailed=1)
    monkeypatch.setenv("RNN_SWEEP_ALLOWED_SKIPS", "frobnicator")
    probes.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, skipped=1, errors=1, xfailed=1)


def test_a_module_skipped_at_import_fails_under_ci(pytester, monkeypatch):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_module='import pytest\npytest.importorskip("no_such_module")\n\ndef test_x():\n    pass\n')
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true*no_such_module*"])
