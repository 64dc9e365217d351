"""`rnn-sweep reproduce` and Hydra's --config-path on a real run folder: new folders, identical metrics."""

from __future__ import annotations

import json
import re

import pytest
from helpers.cli import run_cli

pytestmark = pytest.mark.slow

METRICS = ("test_accuracy", "test_loss", "best_val_accuracy")


def _record(folder) -> dict:
    return json.loads((folder / "result.json").read_text())


def test_deterministic_cpu_run_is_reproduced_bit_for_bit(two_sweeps, tmp_path, mnist_path):
    original_dir = two_sweeps[0] / "1"  # the second job of its sweep process: no state may leak between jobs
    before = (original_dir / "result.json").read_text()
    result = run_cli("reproduce", str(original_dir), cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "reproduced: test accuracy and test loss identical" in result.stdout
    (new_dir,) = (tmp_path / "outputs" / "runs").iterdir()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", new_dir.name)
    assert (new_dir / ".hydra" / "config.yaml").is_file() and (new_dir / "history.csv").is_file()
    original, again = _record(original_dir), _record(new_dir)
    assert [original[m] for m in METRICS] == [again[m] for m in METRICS]
    assert again["config_hash"] == original["config_hash"] and again["run_dir"] == str(new_dir)
    assert (original_dir / "result.json").read_text() == before  # the old folder is never written to


def test_hydra_config_path_trains_a_saved_config_into_outputs_runs(two_sweeps, tmp_path, mnist_path):
    original_dir = two_sweeps[0] / "0"
    result = run_cli("--config-path", str(original_dir / ".hydra"), "--config-name", "config", cwd=tmp_path,
                     data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (new_dir,) = (tmp_path / "outputs" / "runs").iterdir()  # our folder pattern, not Hydra's outputs/<date>/
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", new_dir.name)
    assert [_record(original_dir)[m] for m in METRICS] == [_record(new_dir)[m] for m in METRICS]


def test_a_changed_setting_is_reported_and_exits_1(two_sweeps, tmp_path, mnist_path):
    result = run_cli("reproduce", str(two_sweeps[0] / "0"), "train.epochs=1", "--out", str(tmp_path / "again"),
                     cwd=tmp_path, data=mnist_path)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "NOT reproduced (identical (train.deterministic=true on a CPU) was required)" in result.stdout
    assert "test_loss changed by" in result.stdout
    assert _record(tmp_path / "again")["epochs"] == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["no-such-run"], "has no .hydra/config.yaml"),
        (["{run}", "model.units=0"], "model.units=0"),
        (["{run}", "--out", "{run}"], "already exists"),
        (["{run}", "--tolerance", "x"], "--tolerance"),
    ],
)
def test_bad_input_is_refused_before_training(two_sweeps, tmp_path, args, expected):
    run = str(two_sweeps[0] / "0")
    result = run_cli("reproduce", *(arg.format(run=run) for arg in args), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "outputs").exists()
