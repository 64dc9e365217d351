"""`model.keras` as a Keras user opens it: docs/results.md's recipe, run as written in a fresh Python that never
imports rnn-sweep, turns the raw test images into the model's input, and its `evaluate` gives the run's own test loss
and accuracy, its probabilities the run's predictions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_cli

DOCS = Path(__file__).resolve().parents[1] / "docs" / "results.md"
MODEL = "outputs/runs/<run>/model.keras"  # where the recipe loads the model from: the test's run goes there
# What the test reads of the recipe's names, printed after it has run.
SEEN = """
import json, sys
sums = keras.ops.convert_to_numpy(keras.ops.sum(probabilities, axis=1))
print(json.dumps({"loss": loss, "accuracy": accuracy, "sums": [float(sums.min()), float(sums.max())],
                  "predicted": keras.ops.convert_to_numpy(keras.ops.argmax(probabilities, axis=1)).tolist(),
                  "rnn_sweep": any(name.startswith("rnn_sweep") for name in sys.modules)}))
"""


def _docs_recipe() -> str:
    """The Python block under docs/results.md's "Using `model.keras`", as a user would paste it."""
    section = DOCS.read_text().split("### Using `model.keras`", 1)[1]
    recipe = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert MODEL in recipe and "t10k-images-idx3-ubyte.gz" in recipe, recipe
    return recipe


@pytest.mark.slow
def test_model_keras_evaluates_to_the_runs_own_test_metrics_in_plain_keras(tmp_path, mnist_path):
    run = tmp_path / "run"
    result = run_cli("model=gru", "model.units=8", "data.limit_train=300", "data.limit_test=null", "train.epochs=1",
                     "train.batch_size=32", "train.device=cpu", f"hydra.run.dir={run}", cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((run / "result.json").read_text())
    assert record["test_samples"] == 10000

    user = tmp_path / "user"  # a folder holding the downloaded test files, where the recipe opens them
    (user / Path(MODEL).parent).mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (user / name).symlink_to(Path(mnist_path) / name)
    (user / MODEL).symlink_to(run / "model.keras")
    plain = subprocess.run([sys.executable, "-c", _docs_recipe() + SEEN], cwd=user, capture_output=True, text=True,
                           timeout=300, check=False)
    assert plain.returncode == 0, plain.stderr[-3000:]
    seen = json.loads(plain.stdout.strip().splitlines()[-1])
    assert seen["rnn_sweep"] is False
    assert seen["accuracy"] == pytest.approx(record["test_accuracy"], abs=1e-6)
    assert seen["loss"] == pytest.approx(record["test_loss"], rel=1e-4)
    assert seen["sums"] == pytest.approx([1.0, 1.0], abs=1e-5)

    assert seen["predicted"] == np.load(run / "test_predictions.npy").tolist()
