"""A pytest plugin (tests/conftest.py loads it): the fast tier must not load TensorFlow.

Loading TensorFlow takes seconds and means something trains or builds a model, which is what `slow` marks. In a
session that runs no `slow` test (`pytest -m "not slow"`, or a selection of unmarked tests), the first collected
module or test after which TensorFlow is in sys.modules fails the session, named in the summary. A session that
runs slow tests is not checked: they load TensorFlow themselves.

Under pytest-xdist each worker watches its own interpreter and hands what it saw to the controller, which decides.
"""

from __future__ import annotations

import sys

import pytest


def _tensorflow_loaded() -> bool:
    return "tensorflow" in sys.modules


class TensorflowGuard:
    def __init__(self) -> None:
        self.loaded_by = "pytest's start-up, before any test module" if _tensorflow_loaded() else None
        self.active = False

    def _note(self, what: str) -> None:
        if self.loaded_by is None and _tensorflow_loaded():
            self.loaded_by = what

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._note(f"importing {report.nodeid or 'the test folder'}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.active = not any(item.get_closest_marker("slow") for item in session.items)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self._note(nodeid)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workeroutput"):  # an xdist worker: the controller decides
            session.config.workeroutput["tensorflow_guard"] = {"active": self.active, "loaded_by": self.loaded_by}
        elif self._failed() and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        """On the xdist controller, which runs no test itself: a worker's session is the controller's to judge."""
        seen = getattr(node, "workeroutput", {}).get("tensorflow_guard")
        if seen:  # every worker collects the same tests, so each says whether the session is the fast tier
            self.active = seen["active"]
            self.loaded_by = self.loaded_by or seen["loaded_by"]

    def _failed(self) -> bool:
        return self.active and self.loaded_by is not None

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self._failed():
            terminalreporter.write_sep("=", "TensorFlow loaded in the fast tier", red=True, bold=True)
            terminalreporter.write_line(
                f"{self.loaded_by} loaded TensorFlow, but no test of this session is marked slow. Mark the test "
                "@pytest.mark.slow, or import TensorFlow (and rnn_sweep.train) inside the slow tests only."
            )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(TensorflowGuard(), "tensorflow-guard")
