"""`model.keras` as a Keras user opens it: in a fresh Python that never imports rnn-sweep, `load_model` then
`evaluate` on the test images gives the run's own test loss and accuracy (the docs' recipe for the input)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers.cli import run_cli

# docs/results.md's recipe, as a user would paste it: raw IDX images in, probabilities out.
PLAIN_KERAS = """
import gzip, json, sys
import numpy as np
import keras
data, run = sys.argv[1], sys.argv[2]
with gzip.open(f"{data}/t10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
with gzip.open(f"{data}/t10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
x = images.astype("float32") / 255      # (N, 28, 28): 28 time steps of 28 pixels, scaled to [0, 1]
model = keras.saving.load_model(f"{run}/model.keras")
metrics = model.evaluate(x, labels, batch_size=1000, verbose=0, return_dict=True)
probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x, verbose=0)))
print(json.dumps({"loss": metrics["loss"], "accuracy": metrics["accuracy"],
                  "sums": [float(probabilities.sum(axis=1).min()), float(probabilities.sum(axis=1).max())],
                  "predicted": probabilities.argmax(axis=1).tolist(),
                  "rnn_sweep": any(name.startswith("rnn_sweep") for name in sys.modules)}))
"""


@pytest.mark.slow
def test_model_keras_evaluates_to_the_runs_own_test_metrics_in_plain_keras(tmp_path, mnist_path):
    run = tmp_path / "run"
    result = run_cli("model=gru", "model.units=8", "data.limit_train=300", "data.limit_test=null", "train.epochs=1",
                     "train.batch_size=32", "train.device=cpu", f"hydra.run.dir={run}", cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((run / "result.json").read_text())
    assert record["test_samples"] == 10000

    plain = subprocess.run([sys.executable, "-c", PLAIN_KERAS, mnist_path, str(run)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, check=False)
    assert plain.returncode == 0, plain.stderr[-3000:]
    seen = json.loads(plain.stdout.strip().splitlines()[-1])
    assert seen["rnn_sweep"] is False
    assert seen["accuracy"] == pytest.approx(record["test_accuracy"], abs=1e-6)
    assert seen["loss"] == pytest.approx(record["test_loss"], rel=1e-4)
    assert seen["sums"] == pytest.approx([1.0, 1.0], abs=1e-5)

    assert seen["predicted"] == np.load(run / "test_predictions.npy").tolist()
