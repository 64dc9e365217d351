"""Jobs of one setting in one process trace the model once, and train exactly as if each had built its own."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from helpers.config import typed_config
from rich.console import Console

TINY = ("model=gru", "model.units=8", "data.limit_train=400", "data.limit_test=200", "train.epochs=2",
        "train.save_model=false", "train.batch_size=64")
SCORES = ["loss", "accuracy", "val_loss", "val_accuracy"]


def _train(seed: int, run_dir, mnist_path) -> tuple[dict, pd.DataFrame]:
    from rnn_sweep.train.runner import train_run

    cfg = typed_config(*TINY, f"seed={seed}", f"data.path={mnist_path}")
    record = train_run(cfg, run_dir, [], Console(file=io.StringIO()), threads=1)
    assert record["status"] == "ok", record["error"]
    return record, pd.read_csv(run_dir / "history.csv")


@pytest.mark.slow
def test_seeds_of_one_setting_share_one_trace_and_train_as_fresh_builds(tmp_path, mnist_path, monkeypatch):
    from rnn_sweep.train import reuse

    reuse.clear()
    traces_before = reuse.traces["train"]
    shared = [_train(seed, tmp_path / f"shared{seed}", mnist_path) for seed in (0, 1, 0)]
    assert reuse.traces["train"] - traces_before == 1, "a later seed traced the train step again"

    monkeypatch.setattr(reuse, "ENABLED", False)
    for seed, (record, history) in zip((0, 1, 0), shared, strict=True):
        fresh_record, fresh_history = _train(seed, tmp_path / f"fresh{seed}-{len(history)}", mnist_path)
        pd.testing.assert_frame_equal(history[SCORES], fresh_history[SCORES], check_exact=True)
        assert record["test_accuracy"] == fresh_record["test_accuracy"]
        assert record["test_loss"] == fresh_record["test_loss"]
    assert shared[0][1][SCORES].equals(shared[2][1][SCORES])  # seed 0 again, after seed 1 moved the weights
    assert not shared[0][1][SCORES].equals(shared[1][1][SCORES])  # the seeds do differ
