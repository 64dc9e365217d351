"""Jobs of one graph in one process trace the model once, and train exactly as if each had built its own.

Exactly: the reused model's variables are set to the values a fresh build has, bit for bit, and its traced steps
are the ones a fresh build traces from the same code, so every number of the history is compared for equality."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from helpers.config import typed_config
from rich.console import Console

TINY = ("model=gru", "model.units=8", "data.limit_train=400", "data.limit_test=200", "train.epochs=2",
        "train.save_model=false", "train.batch_size=64")
SCORES = ["loss", "accuracy", "val_loss", "val_accuracy"]


def _train(seed: int, run_dir, mnist_path, *settings: str) -> tuple[dict, pd.DataFrame]:
    from rnn_sweep.train.runner import train_run

    cfg = typed_config(*TINY, *settings, f"seed={seed}", f"data.path={mnist_path}")
    record = train_run(cfg, run_dir, [], Console(file=io.StringIO()), threads=1)
    assert record["status"] == "ok", record["error"]
    return record, pd.read_csv(run_dir / "history.csv")


# Dropout draws random numbers inside the traced train step, from seed generators the reused model must restart.
DROPOUT = ("model.dropout=0.2", "model.head_dropout=0.3")


@pytest.mark.slow
def test_seeds_of_one_setting_share_one_trace_and_train_as_fresh_builds(tmp_path, mnist_path, monkeypatch):
    """Seed 0 comes twice in the process: whatever random stream it started the first time must start again."""
    from rnn_sweep.train import reuse

    reuse.clear()
    traces_before = reuse.traces["train"]
    shared = [_train(seed, tmp_path / f"shared{seed}-{index}", mnist_path, *DROPOUT)
              for index, seed in enumerate((0, 1, 0))]
    assert reuse.traces["train"] - traces_before == 1, "a later seed traced the train step again"

    monkeypatch.setattr(reuse, "ENABLED", False)
    for index, (seed, (record, history)) in enumerate(zip((0, 1, 0), shared, strict=True)):
        fresh_record, fresh_history = _train(seed, tmp_path / f"fresh{seed}-{index}", mnist_path, *DROPOUT)
        pd.testing.assert_frame_equal(history[SCORES], fresh_history[SCORES], check_exact=True)
        assert record["test_accuracy"] == fresh_record["test_accuracy"]
        assert record["test_loss"] == fresh_record["test_loss"]
    assert shared[0][1][SCORES].equals(shared[2][1][SCORES])  # seed 0 again, after seed 1 moved the weights
    assert not shared[0][1][SCORES].equals(shared[1][1][SCORES])  # the seeds do differ


@pytest.mark.slow
def test_a_later_job_calls_the_step_functions_tensorflow_already_instantiated(tmp_path, mnist_path, monkeypatch):
    """Seeding a job must leave TensorFlow's kernel cache, which holds the instantiated step functions: emptied
    (as tf.random.set_seed does), a reused GRU-32 instantiates them again, 0.3 s of its first epoch."""
    from tensorflow.python import pywrap_tfe

    from rnn_sweep.train import reuse

    reuse.clear()
    emptied = []
    empty = pywrap_tfe.TFE_ContextClearCaches
    monkeypatch.setattr(pywrap_tfe, "TFE_ContextClearCaches", lambda handle: emptied.append(handle) or empty(handle))
    records = [_train(seed, tmp_path / f"run{seed}", mnist_path)[0] for seed in (0, 1)]
    assert [record["traces"] for record in records] == [3, 0]
    assert emptied == [], "seeding a job emptied TensorFlow's kernel cache"


# Jobs of two graphs (a plain learning rate, a cosine schedule): learning rates, and adam against adamw. The fourth
# job repeats the first after adamw's weight decay and another learning rate were in the shared optimizer.
ONE_GRAPH_EACH = [
    ("optimizer=adam", "optimizer.learning_rate=0.01"),
    ("optimizer=adam", "optimizer.learning_rate=0.003"),
    ("optimizer=adamw", "optimizer.learning_rate=0.01", "optimizer.weight_decay=0.05"),
    ("optimizer=adam", "optimizer.learning_rate=0.01"),
    ("optimizer=adam", "optimizer.learning_rate=0.01", "train.lr_schedule=cosine"),
    ("optimizer=adam", "optimizer.learning_rate=0.003", "train.lr_schedule=cosine"),
]


@pytest.mark.slow
def test_learning_rates_and_adam_against_adamw_share_one_trace_and_train_as_fresh_builds(
    tmp_path, mnist_path, monkeypatch
):
    from rnn_sweep.train import reuse

    reuse.clear()
    shared = [_train(0, tmp_path / f"shared{index}", mnist_path, *settings)
              for index, settings in enumerate(ONE_GRAPH_EACH)]
    assert [record["traces"] for record, _ in shared] == [3, 0, 0, 0, 3, 0]  # train, evaluate, predict: once a graph

    monkeypatch.setattr(reuse, "ENABLED", False)
    fresh = [_train(0, tmp_path / f"fresh{index}", mnist_path, *settings)
             for index, settings in enumerate(ONE_GRAPH_EACH) if index != 3]
    assert sum(record["traces"] for record, _ in fresh) == 3 * len(fresh)
    for (record, history), (fresh_record, fresh_history) in zip([*shared[:3], *shared[4:]], fresh, strict=True):
        pd.testing.assert_frame_equal(history[SCORES], fresh_history[SCORES], check_exact=True)
        assert (record["test_accuracy"], record["test_loss"]) == (fresh_record["test_accuracy"],
                                                                   fresh_record["test_loss"])
    pd.testing.assert_frame_equal(shared[3][1][SCORES], shared[0][1][SCORES], check_exact=True)
    histories = [history[SCORES] for _, history in shared]
    assert not any(histories[0].equals(other) for other in (histories[1], histories[2], histories[4]))


@pytest.mark.slow  # imports the runner, and so TensorFlow; trains nothing
def test_a_first_epoch_faster_than_the_steady_ones_spent_nothing_on_tracing():
    """Beside another job that ends meanwhile, a first epoch can be the fastest: its tracing cost is then 0 s, never
    a negative time."""
    from types import SimpleNamespace

    from rnn_sweep.train.runner import _epoch_figures

    def figures(*seconds: float) -> dict:
        timer = SimpleNamespace(seconds=list(seconds), training_seconds=list(seconds), cpu_seconds=list(seconds))
        return _epoch_figures(timer, len(seconds), train_samples=1000)

    assert figures(3.0, 1.0, 2.0)["trace_seconds"] == pytest.approx(1.5)
    assert figures(1.0, 2.0, 3.0)["trace_seconds"] == 0.0
    assert figures(1.0)["trace_seconds"] is None
