"""`compare --fail-if-worse` on sweeps made of real record files (the writer rnn-sweep uses, real predictions on
disk), and compare refusing to write over its inputs. No training: the numbers are set, so the answers are known."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_cli
from helpers.config import typed_config
from omegaconf import OmegaConf

from rnn_sweep.record.columns import HYDRA_DIR, LABELS_FILE, MULTIRUN_FILE, PREDICTIONS_FILE, RESULTS_CSV, label
from rnn_sweep.record.result_files import new_record, write_result
from rnn_sweep.report.sweep_report import write_sweep_report

IMAGES = 200
LABELS = np.random.default_rng(0).integers(0, 10, IMAGES)


def _job(sweep: Path, num: int, cell: str, accuracy: float | None, status: str = "ok") -> Path:
    """Job folder `num` of `sweep`: Hydra's saved config, and (unless `status` is None) the run's record and its
    predictions, right on the first `accuracy` share of the test images."""
    typed = typed_config(f"model={cell}", "model.units=4", "seed=0")
    job = sweep / str(num)
    (job / HYDRA_DIR).mkdir(parents=True)
    OmegaConf.save(typed, job / HYDRA_DIR / "config.yaml")
    OmegaConf.save(OmegaConf.create([f"model={cell}"]), job / HYDRA_DIR / "overrides.yaml")
    (sweep / MULTIRUN_FILE).write_text("hydra: {}\n")
    if status is None:
        return job  # a job still running, or killed: no result.json
    record = new_record(typed, job, [f"model={cell}"])
    record.update(status=status, error=None if status == "ok" else "RuntimeError: boom", epochs_completed=1,
                  test_samples=IMAGES, test_set_hash="same-images", epoch_seconds_all=[1.0, 1.0],
                  train_samples_per_second=100.0)
    if accuracy is not None:
        right = int(accuracy * IMAGES)
        predictions = np.where(np.arange(IMAGES) < right, LABELS, (LABELS + 1) % 10)
        np.save(job / PREDICTIONS_FILE, predictions)
        np.save(job / LABELS_FILE, LABELS)
        record.update(test_accuracy=right / IMAGES, test_loss=1.0)
    write_result(job, record)
    return job


def _sweep(folder: Path, jobs: list[tuple[str, float | None, str | None]]) -> Path:
    for num, (cell, accuracy, status) in enumerate(jobs):
        _job(folder, num, cell, accuracy, status)
    write_sweep_report(folder)
    return folder


def _gate(a: Path, b: Path, *extra: str) -> tuple[int, str]:
    result = run_cli("compare", str(a), str(b), "--fail-if-worse", "0", *extra, cwd=a.parent)
    return result.returncode, " ".join(result.stdout.split()) + result.stderr


def test_the_gate_fails_on_a_045_drop_between_one_run_sweeps(tmp_path):
    a = _sweep(tmp_path / "a", [("gru", 0.9, "ok")])
    b = _sweep(tmp_path / "b", [("gru", 0.45, "ok")])
    code, out = _gate(a, b)
    assert code == 1, out
    assert "cell=gru" in out and f"worse ({label('delta_accuracy')} -0.4500 [" in out and "test mcnemar" in out


@pytest.mark.slow
def test_the_gate_fails_on_every_setting_b_lost(tmp_path):
    a = _sweep(tmp_path / "a", [("gru", 0.9, "ok"), ("lstm", 0.9, "ok"), ("simple_rnn", 0.9, "ok")])
    b = _sweep(tmp_path / "b", [("gru", 0.9, "ok"), ("lstm", None, None), ("simple_rnn", None, "failed")])
    code, out = _gate(a, b)
    assert code == 1, out
    assert "fails on 2 setting(s): cell=lstm: unfinished in B (B: unfinished (" in out
    assert "cell=simple_rnn: not ok in B (A: ok; B: failed)" in out
    assert "cell=gru" not in out.split("fails on")[1]

    shutil.rmtree(b / "1")  # now B lacks lstm altogether
    write_sweep_report(b)
    code, out = _gate(a, b)
    assert code == 1 and "cell=lstm: missing in B (A has 1 run(s) ok (ok), B has no run of it)" in out, out


def test_an_untested_pair_fails_unless_allowed(tmp_path):
    a = _sweep(tmp_path / "a", [("gru", 0.9, "ok")])
    b = _sweep(tmp_path / "b", [("gru", 0.9, "ok")])
    assert _gate(a, b)[0] == 0  # the same images right on both sides: tested, not worse
    (b / "0" / PREDICTIONS_FILE).unlink()
    code, out = _gate(a, b)
    assert code == 1 and "untested" in out and f"no {b / '0' / PREDICTIONS_FILE}" in out, out
    code, out = _gate(a, b, "--allow-untested")
    assert code == 0 and "--allow-untested: 1 pair(s) untested, not failed" in out, out


@pytest.mark.parametrize("flag,target", [("--csv", "0/result.json"), ("--csv", RESULTS_CSV),
                                         ("--html", "0/history.csv"), ("--csv", "0/.hydra/new.csv")])
def test_compare_never_writes_over_its_inputs(tmp_path, flag, target):
    a = _sweep(tmp_path / "a", [("gru", 0.9, "ok")])
    b = _sweep(tmp_path / "b", [("gru", 0.9, "ok")])
    (a / "0" / "history.csv").write_text("epoch\n0\n")
    inside = a / target
    before = inside.read_bytes() if inside.is_file() else None
    result = run_cli("compare", str(a), str(b), flag, str(inside), cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert f"{flag} {inside} is" in " ".join(result.stderr.split())
    assert (inside.read_bytes() if inside.is_file() else None) == before
    assert run_cli("compare", str(a), str(b), flag, str(tmp_path / "out.csv"), cwd=tmp_path).returncode == 0
