"""TensorBoard's HParams view of a grid sweep, read through TensorBoard's own HTTP API (the data its UI shows)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from rnn_sweep.sweep.hparams import HPARAMS_EVENTS

STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TensorBoard:
    """`tensorboard --logdir LOGDIR` on a free local port, asked what its UI asks."""

    def __init__(self, logdir: Path) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
             "--port", self.url.rsplit(":", 1)[1], "--reload_interval", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def get(self, path: str) -> object:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.load(response)

    def post(self, path: str, body: dict) -> object:
        """The UI posts its hparams requests as JSON, with TensorBoard's XSRF header."""
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "X-XSRF-Protected": "1"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def wait_for_sessions(self, count: int, limit: float = 180) -> dict:
        """Poll the session groups until `count` sessions are loaded; fail with TensorBoard's output if not."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"tensorboard ended (exit {self.process.returncode}): {self.process.stdout.read()}")
            try:
                groups = self.post("/data/plugin/hparams/session_groups", {
                    "experimentName": "", "allowedStatuses": STATUSES, "colParams": [], "startIndex": 0,
                    "sliceSize": 100})
                if sum(len(group["sessions"]) for group in groups.get("sessionGroups", [])) >= count:
                    return groups
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
                pass
            time.sleep(0.5)
        pytest.fail(f"tensorboard did not show {count} sessions within {limit:.0f} s")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.mark.slow
def test_a_grid_sweep_is_an_hparams_experiment_in_tensorboard(two_sweeps):
    without, with_tensorboard = two_sweeps
    assert not list(without.rglob(HPARAMS_EVENTS)) and not (without / "tensorboard").exists()
    results = pd.read_csv(with_tensorboard / "results.csv")
    board = TensorBoard(with_tensorboard / "tensorboard")
    try:
        groups = board.wait_for_sessions(len(results))
        experiment = board.post("/data/plugin/hparams/experiment", {"experimentName": ""})
        tags = board.get("/data/plugin/scalars/tags")
    finally:
        board.close()

    infos = {info["name"]: info for info in experiment["hparamInfos"]}
    assert infos["cell"]["differs"] is True  # the swept key: a default column of the table
    assert sorted(infos["cell"]["domainDiscrete"]) == ["gru", "simple_rnn"]
    assert infos["units"]["differs"] is False and infos["units"]["domainDiscrete"] == [8.0]
    assert "seed" not in infos

    # One group per setting, named by it; one session per job, named by its setting and seed.
    by_group = {group["name"]: group for group in groups["sessionGroups"]}
    assert sorted(by_group) == ["cell=gru", "cell=simple_rnn"]
    for row in results.itertuples():
        (session,) = [s for s in by_group[f"cell={row.cell}"]["sessions"] if s["name"] == f"cell={row.cell},seed=2"]
        metrics = {value["name"]["tag"]: value["value"] for value in session["metricValues"]}
        assert metrics["test_accuracy"] == pytest.approx(row.test_accuracy, abs=1e-6)
        assert session["status"] == "STATUS_SUCCESS"

    # The jobs' curves under the same names, each tag saying its word once.
    assert sorted(tags["cell=gru,seed=2/train"]) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss",
                                                         "epoch_seconds"]
    assert "epoch_accuracy" in tags["cell=gru,seed=2/validation"]
