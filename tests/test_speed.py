"""The speed levers: what `auto` resolves to, that none of them changes what is learnt, and their errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers.cli import cli_env, run_cli
from helpers.config import typed_config
from helpers.lazy import LazyModule, lazy_functions
from helpers.runs import TINY

from rnn_sweep.errors import ConfigError
from rnn_sweep.launch.preflight import preflight
from rnn_sweep.train.speed import AUTO_STEPS_PER_EXECUTION, MIN_UNROLLED_TRAINING_STEPS, plan_speed

keras, tf, layers = LazyModule("keras"), LazyModule("tensorflow"), LazyModule("rnn_sweep.train.layers")
build_model, compile_model, portable_copy = lazy_functions("rnn_sweep.train.model", "build_model", "compile_model",
                                                           "portable_copy")


def _layer(name):
    """A Keras RNN layer class, or one of rnn_sweep.train.layers' faster ones, by its class name."""
    return getattr(keras.layers, name, None) or getattr(layers, name)


@pytest.mark.parametrize(
    ("overrides", "on_gpu", "expected"),
    [  # (steps_per_execution, unroll, project_inputs, batch_shards) on 2 cores
        (["model=simple_rnn"], False, (AUTO_STEPS_PER_EXECUTION, True, False, 2)),
        (["model=simple_rnn", "train.epochs=1", "data.limit_train=5000"], False, (AUTO_STEPS_PER_EXECUTION, False,
                                                                                 False, 1)),  # too short for either
        (["model=lstm"], False, (AUTO_STEPS_PER_EXECUTION, True, False, 2)),
        (["model=gru"], False, (AUTO_STEPS_PER_EXECUTION, True, True, 2)),
        (["model=lstm"], True, (AUTO_STEPS_PER_EXECUTION, False, False, 1)),  # unrolled, cuDNN would be off
        (["model=gru"], True, (AUTO_STEPS_PER_EXECUTION, False, True, 1)),  # ProjectedGRU hands over to cuDNN
        (["model=simple_rnn"], True, (AUTO_STEPS_PER_EXECUTION, True, False, 1)),
        (["model=simple_rnn", "data.sequence=pixels"], False, (AUTO_STEPS_PER_EXECUTION, False, False, 2)),
        # 32 cut to divide the steps, the evaluations and the epoch (480 steps of 125): 4.
        (["model=gru", "train.steps=1000", "train.eval_every=500", "train.batch_size=125"], False,
         (4, True, True, 2)),
        (["model=gru", "train.steps_per_execution=4", "model.unroll=false", "model.project_inputs=false",
          "model.batch_shards=3"], False, (4, False, False, 3)),
        (["model=lstm", "model.units=32"], False, (AUTO_STEPS_PER_EXECUTION, True, False, 1)),  # too little work
        (["model=simple_rnn", "model.units=64"], False, (AUTO_STEPS_PER_EXECUTION, True, False, 1)),
        (["model=gru", "model.units=64"], False, (AUTO_STEPS_PER_EXECUTION, True, True, 2)),
        (["model=lstm", "train.batch_size=50"], False, (AUTO_STEPS_PER_EXECUTION, True, False, 1)),  # 25 rows each
    ],
)
def test_auto_levers_resolve_per_cell_and_device(overrides, on_gpu, expected):
    cfg = typed_config(*overrides)
    time_steps = 784 if cfg.data.sequence == "pixels" else 28
    images = cfg.data.limit_train or 60_000
    training_steps = cfg.train.steps or cfg.train.epochs * -(-images // cfg.train.batch_size)
    assert (training_steps >= MIN_UNROLLED_TRAINING_STEPS) == (images == 60_000 or cfg.train.steps is not None)
    plan = plan_speed(cfg.model, cfg.train, time_steps=time_steps, training_steps=training_steps,
                      steps_per_epoch=-(-images // cfg.train.batch_size), on_gpu=on_gpu, cores=2)
    assert (plan.steps_per_execution, plan.unroll, plan.project_inputs, plan.batch_shards) == expected
    assert plan.precision == "float32" and plan.jit_compile is False


def test_one_core_gets_one_batch_shard():
    cfg = typed_config("model=lstm")
    plan = plan_speed(cfg.model, cfg.train, time_steps=28, training_steps=5000, steps_per_epoch=422, on_gpu=False,
                      cores=1)
    assert plan.batch_shards == 1


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["train.steps_per_execution=0"], "train.steps_per_execution=0"),
        (["train.steps_per_execution=fast"], "auto or an int >= 1"),
        (["model.unroll=3"], "auto, true or false"),
        (["train.precision=float8"], "float32, mixed_float16, mixed_bfloat16"),
        (["train.steps=100", "train.steps_per_execution=32"], "not a multiple of train.steps_per_execution=32"),
        (["model=lstm", "model.project_inputs=true"], "Unknown config key 'model.project_inputs'"),
        (["model.batch_shards=0"], "auto or an int >= 1"),
    ],
)
def test_bad_lever_values_are_refused_before_training(overrides, named, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNN_SWEEP_DATA", str(tmp_path))
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        preflight(overrides)


def _assert_same_outputs_and_gradients(reference, layer, x, mask=None):
    """Give `layer` the reference layer's weights; both must return the same outputs (every one, states included)
    and the same gradients for their weights and inputs, up to float rounding."""
    for each in (reference, layer):
        each.build((None, *x.shape[1:]))
    layer.set_weights(reference.get_weights())
    results = []
    for each in (reference, layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = each(x, training=True, mask=mask)
            outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            loss = sum(tf.reduce_sum(tf.square(output)) for output in outputs)
        results.append((outputs, tape.gradient(loss, [*each.trainable_weights, x])))
    (expected, expected_grads), (got, got_grads) = results
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-5)
    for want, have in zip(expected_grads, got_grads, strict=True):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [{}, {"return_sequences": True}, {"go_backwards": True}, {"unroll": True}, {"activation": "relu"},
     {"use_bias": False}],
)
def test_projected_gru_matches_keras_gru_in_outputs_and_gradients(options):
    x = tf.constant(np.random.default_rng(0).random((6, 28, 28), dtype=np.float32))
    _assert_same_outputs_and_gradients(keras.layers.GRU(16, **options), layers.ProjectedGRU(16, **options), x)


@pytest.mark.slow
@pytest.mark.parametrize("layer_class", ["SimpleRNN", "LSTM", "GRU", "ProjectedGRU"])
@pytest.mark.parametrize(("batch", "options"), [(7, {}), (7, {"return_sequences": True, "unroll": True}),
                                                (1, {"go_backwards": True})])
def test_batch_shards_match_keras_in_outputs_gradients_and_states(layer_class, batch, options):
    """Two shards of an odd batch, and of a batch of one (the second shard is all padding)."""
    x = tf.constant(np.random.default_rng(0).random((batch, 28, 5), dtype=np.float32))
    _assert_same_outputs_and_gradients(_layer(layer_class)(6, return_state=True, **options),
                                       _layer(f"Sharded{layer_class}")(6, return_state=True, shards=2, **options), x)


@pytest.mark.slow
@pytest.mark.parametrize(("layer_class", "faster_class", "faster_options"), [
    ("LSTM", "ShardedLSTM", {"shards": 2}),
    ("GRU", "ShardedGRU", {"shards": 2}),
    ("GRU", "ProjectedGRU", {}),
])
@pytest.mark.parametrize("case", ["mask", "dropout"])
def test_masks_and_dropout_run_keras_own_loop(layer_class, faster_class, faster_options, case):
    """Keras masks the steps and draws dropout masks for the whole batch; the faster layers must hand those runs
    to Keras' loop (with the same seed, Keras' dropout masks are the same)."""
    options = {"dropout": 0.5, "recurrent_dropout": 0.5, "seed": 3} if case == "dropout" else {}
    x = tf.constant(np.random.default_rng(0).random((7, 28, 5), dtype=np.float32))
    lengths = np.array([28, 20, 9, 28, 3, 15, 28])
    mask = tf.constant(np.arange(28)[None, :] < lengths[:, None]) if case == "mask" else None
    _assert_same_outputs_and_gradients(_layer(layer_class)(6, return_sequences=True, **options),
                                       _layer(faster_class)(6, return_sequences=True, **options, **faster_options), x,
                                       mask)


@pytest.mark.slow
@pytest.mark.parametrize(("cell", "project_inputs", "shards", "keras_layer", "faster_layer"), [
    ("lstm", False, 2, "LSTM", "ShardedLSTM"),
    ("gru", True, 2, "GRU", "ShardedProjectedGRU"),
    ("gru", True, 1, "GRU", "ProjectedGRU"),
])
def test_faster_bidirectional_model_trains_and_saves_plain_keras_layers(cell, project_inputs, shards, keras_layer,
                                                                        faster_layer, tmp_path):
    """Bidirectional rebuilds the backward half from the config, so the layer class and `shards` must
    round-trip; the saved model must not need rnn-sweep."""
    cfg = typed_config(f"model={cell}", "model.units=8", "model.bidirectional=true", "model.layers=2")
    model = build_model(cfg.model, batch_shards=shards, project_inputs=project_inputs)
    layer = model.get_layer("rnn")
    for half in (layer.forward_layer, layer.backward_layer):
        assert type(half) is _layer(faster_layer) and getattr(half, "shards", 1) == shards
    compile_model(model, cfg.optimizer)
    x, y = np.random.default_rng(0).random((9, 28, 28), dtype=np.float32), np.arange(9) % 10
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    copy = portable_copy(model, cfg.model, (28, 28))
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert type(copy.get_layer("rnn").forward_layer) is _layer(keras_layer)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_the_output_layer_and_loss_in_float32(precision):
    cfg = typed_config("model=gru", "model.units=8", f"train.precision={precision}")
    model = build_model(cfg.model, precision=precision)
    compile_model(model, cfg.optimizer, precision=precision)
    assert model.get_layer("rnn").compute_dtype == precision.removeprefix("mixed_")
    assert model.get_layer("logits").compute_dtype == "float32"
    assert model(np.zeros((2, 28, 28), "float32")).dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "mixed_float16")


@pytest.mark.slow
def test_steps_per_execution_changes_speed_not_results(tmp_path, mnist_path):
    """Several steps per call into TensorFlow take the same steps: the same losses, epoch by epoch."""
    histories = []
    for every in (1, 4):
        run_dir = tmp_path / f"spe{every}"
        result = run_cli(*TINY, "model=simple_rnn", "model.unroll=false", f"train.steps_per_execution={every}",
                         f"hydra.run.dir={run_dir}", cwd=tmp_path, data=mnist_path)
        assert result.returncode == 0, result.stderr[-3000:]
        record = json.loads((run_dir / "result.json").read_text())
        assert record["steps_per_execution"] == every and record["unroll"] is False
        histories.append((run_dir / "history.csv").read_text().splitlines())
    columns = histories[0][0].split(",")
    losses = [[float(line.split(",")[columns.index("loss")]) for line in history[1:]] for history in histories]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


@pytest.mark.slow
def test_step_based_training_counts_steps_not_calls_into_tensorflow(tmp_path, mnist_path):
    """With 4 steps per call, an epoch of 5 steps is a call of 4 then a call of 1: steps.csv and the limit
    must still fall on steps 20 and 40, not on the 20th and 40th call."""
    run_dir = tmp_path / "run"
    result = run_cli(*TINY, "model=simple_rnn", "train.steps=40", "train.eval_every=20",
                     "train.steps_per_execution=4", f"hydra.run.dir={run_dir}", cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    steps = [line.split(",")[0] for line in (run_dir / "steps.csv").read_text().splitlines()[1:]]
    assert steps == ["20", "40"]


# Runs the CLI and, when the command first imports TensorFlow, says which of the modules only a sweep's tables and
# page use were loaded by then, and stops it there: nothing trains.
AT_TENSORFLOW = """
import importlib.abc, sys
class AtTensorflow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("tensorflow", "keras"):
            loaded = [module for module in ("pandas", "matplotlib", "statsmodels", "jinja2", "tensorboard")
                      if module in sys.modules]
            print("LOADED-BEFORE-TENSORFLOW:", *loaded, flush=True)
            raise ImportError("stopped before TensorFlow")
sys.meta_path.insert(0, AtTensorflow())
from rnn_sweep.cli import main
main(sys.argv[1:])
"""


@pytest.mark.slow
@pytest.mark.parametrize("command", [["hydra.run.dir=run"], ["-m", "model=simple_rnn,gru", "hydra.sweep.dir=sweep"]])
def test_a_command_starts_training_without_importing_the_report(command, tmp_path, mnist_path):
    """The report's modules take over a second to import: a run never uses them, a sweep only at its end."""
    with subprocess.Popen([sys.executable, "-c", AT_TENSORFLOW, *command, *TINY], cwd=tmp_path,
                          env=cli_env(mnist_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as cli:
        try:  # the first import of TensorFlow is all the test asks about: the rest of the command is not waited for
            seen = []
            for line in cli.stdout:
                seen.append(line)
                if line.startswith("LOADED-BEFORE-TENSORFLOW:"):
                    break
        finally:
            cli.kill()
    assert seen and seen[-1].startswith("LOADED-BEFORE-TENSORFLOW:"), "".join(seen)[-3000:]
    assert seen[-1].strip() == "LOADED-BEFORE-TENSORFLOW:", seen[-1]


def test_the_training_modules_load_no_statistics_library():
    """A job's own modules are all it loads before its first step: scipy.stats (0.5 s to import) is the sweep's
    tables' to load, once its jobs have ended, and a run's never."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, rnn_sweep.train.runner; print('scipy.stats' in "
                             "sys.modules, 'statsmodels' in sys.modules)"], capture_output=True, text=True, timeout=120,
                            env=cli_env(None), check=False)
    assert (loaded.returncode, loaded.stdout) == (0, "False False\n"), loaded.stderr[-3000:]


@pytest.mark.slow  # two processes import TensorFlow
def test_the_processes_that_train_keep_what_they_loaded_out_of_garbage_collections():
    """A full collection walks every object of the process, TensorFlow's 360,000 included (0.12 s each time, more
    once a model is traced; loky's workers collect after every job): the command's trainer and the joblib workers
    load them with the collector off, then freeze them, so collections walk what a job made alone; and the
    collector is on again for the jobs."""
    script = ("import gc; from rnn_sweep.train.warm_up import load_training_code; "
              "from rnn_sweep.sweep.joblib_launcher import start_workers; load_training_code(); "
              "worker = start_workers(1).submit(lambda: (gc.get_freeze_count(), gc.isenabled())).result(); "
              "print(gc.get_freeze_count(), gc.isenabled(), *worker)")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180,
                            env=cli_env(None), check=False)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    trainer_frozen, trainer_collects, worker_frozen, worker_collects = loaded.stdout.split()
    assert int(trainer_frozen) > 100_000 and int(worker_frozen) > 100_000, loaded.stdout
    assert (trainer_collects, worker_collects) == ("True", "True")
