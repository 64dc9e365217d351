"""The tutorial and best_* presets, sequence layouts, learning-rate schedules and model structure."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_cli
from helpers.config import compose_config, typed_config
from helpers.lazy import LazyModule, lazy_functions
from helpers.runs import PRESET_QUICK as QUICK
from omegaconf import OmegaConf
from rich.console import Console

from rnn_sweep.config.paths import conf_dir
from rnn_sweep.config.validate import validate
from rnn_sweep.data.sequences import pixel_permutation, sequence_shape, to_sequences
from rnn_sweep.errors import ConfigError
from rnn_sweep.record.columns import COLUMNS
from rnn_sweep.record.result_files import write_result

keras = LazyModule("keras")
build_model, = lazy_functions("rnn_sweep.train.model", "build_model")
build_schedule, = lazy_functions("rnn_sweep.train.schedules", "build_schedule")

PRESETS = sorted(path.stem for path in (conf_dir() / "experiment").glob("*.yaml"))
TUTORIALS = ["tutorial_keras_simplernn50", "tutorial_keras_simplernn50_single", "tutorial_simplernn128_relu",
             "tutorial_basicrnn150", "tutorial_cell_size"]
BEST = ["best_lstm", "best_gru", "best_simple_rnn"]
FASHION_BEST = [f"fashion_{name}" for name in BEST]
# What the Keras SimpleRNN tutorial printed after each of its evaluation steps.
PRINTED = {1: 0.0958, 501: 0.5229, 1001: 0.5595, 1501: 0.5495, 2001: 0.5713, 2501: 0.5631, 3001: 0.5877,
           3501: 0.6042, 4001: 0.6586}


def test_every_issue_preset_exists():
    assert set(TUTORIALS + BEST + FASHION_BEST + ["pixels_lstm", "permuted_pixels_lstm"]) <= set(PRESETS)


@pytest.mark.parametrize("name", BEST)
def test_fashion_counterparts_train_the_best_presets_on_fashion_mnist(name):
    mnist, fashion = typed_config(f"experiment={name}"), typed_config(f"experiment=fashion_{name}")
    assert (mnist.data.name, fashion.data.name) == ("mnist", "fashion_mnist")
    assert fashion.model == mnist.model and fashion.optimizer == mnist.optimizer and fashion.train == mnist.train
    assert fashion.preset.name == f"fashion_{name}" and fashion.preset.target_test_accuracy is None


@pytest.mark.parametrize("name", PRESETS)
def test_preset_composes_validates_and_names_itself(name):
    cfg = typed_config(f"experiment={name}")
    assert cfg.preset.name == name
    assert cfg.preset.source
    if name.startswith("best_"):
        assert cfg.train.epochs <= 10 and cfg.preset.target_test_accuracy >= 0.985
        assert cfg.data.sequence == "rows"


def test_tutorial_presets_carry_the_reported_figures():
    keras_tutorial = typed_config("experiment=tutorial_keras_simplernn50")
    assert keras_tutorial.preset.reported_test_accuracy == 0.6586
    assert dict(keras_tutorial.preset.reported_trajectory) == PRINTED
    assert typed_config("experiment=tutorial_basicrnn150").preset.reported_test_accuracy == 0.9809
    step = keras_tutorial.train
    assert (step.steps, step.eval_every, step.first_eval_step, step.batch_size) == (4001, 500, 1, 50)
    assert (keras_tutorial.optimizer.name, keras_tutorial.optimizer.learning_rate) == ("adam", 0.001)
    single = typed_config("experiment=tutorial_keras_simplernn50_single")
    assert single.preset.reported_trajectory is None and single.preset.reported_test_accuracy is None
    assert single.train == step and single.model.output_layers == 1


@pytest.mark.slow  # EvalSchedule lives beside the Keras callbacks
def test_the_tutorial_loop_evaluates_nine_times():
    """`for i in range(4001): train_on_batch(); if i % 500 == 0: evaluate()` evaluates after steps 1, 501, ..., 4001."""
    from rnn_sweep.train.callbacks import EvalSchedule

    step = typed_config("experiment=tutorial_keras_simplernn50").train
    schedule = EvalSchedule(step.eval_every, step.first_eval_step)
    assert [taken for taken in range(1, step.steps + 1) if schedule.due(taken)] == list(PRINTED)
    assert [taken for taken in range(1, 21) if EvalSchedule(5).due(taken)] == [5, 10, 15, 20]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "params", "softmax_layers"),
                         [("tutorial_keras_simplernn50", 4570, 2), ("tutorial_keras_simplernn50_single", 4460, 1)])
def test_keras_tutorial_models_have_the_printed_parameter_counts(name, params, softmax_layers):
    model_cfg = typed_config(f"experiment={name}").model
    assert model_cfg.unroll is True
    model = build_model(model_cfg)
    assert model.count_params() == params and model.get_layer("rnn").count_params() == 3950
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.count_params() for layer in dense] == [510, 110][:softmax_layers]
    assert all(layer.activation.__name__ == "softmax" for layer in dense)


def test_basicrnn150_holds_out_5000(mnist):
    from rnn_sweep.data.loading import make_splits

    cfg = typed_config("experiment=tutorial_basicrnn150")
    splits = make_splits(*mnist, limit_train=None, limit_test=100, validation_split=cfg.train.validation_split,
                         seed=cfg.seed)
    assert (len(splits.y_train), len(splits.y_val)) == (55000, 5000)


@pytest.mark.parametrize("name", ["tutorial_keras_simplernn50", "tutorial_cell_size"])
def test_tutorials_without_hold_out_train_on_all_60000_in_file_order(name, mnist):
    from rnn_sweep.data.loading import make_splits

    cfg = typed_config(f"experiment={name}")
    assert cfg.train.validation_split == 0
    splits = make_splits(*mnist, limit_train=None, limit_test=None, validation_split=0, seed=cfg.seed)
    assert len(splits.y_train) == 60000 and len(splits.y_val) == 0
    np.testing.assert_array_equal(splits.y_train, mnist[0][1])


@pytest.mark.slow
@pytest.mark.parametrize("name", BEST)
def test_best_gated_presets_stay_cudnn_eligible(name):
    model = build_model(typed_config(f"experiment={name}").model)
    for layer in model.layers:
        cell = getattr(layer, "forward_layer", layer)
        if isinstance(cell, (keras.layers.LSTM, keras.layers.GRU)):
            assert cell.activation.__name__ == "tanh" and cell.recurrent_activation.__name__ == "sigmoid"
            assert cell.recurrent_dropout == 0 and not cell.unroll and cell.use_bias


@pytest.mark.slow
@pytest.mark.parametrize(("units", "params"), [(10, 390), (20, 980), (30, 1770)])
def test_tutorial_cell_size_parameter_counts(units, params):
    model = build_model(typed_config("experiment=tutorial_cell_size", f"model.units={units}").model)
    assert model.get_layer("rnn").count_params() == params


def test_tutorial_cell_size_sweeps_the_three_sizes():
    cfg = compose_config("experiment=tutorial_cell_size", hydra=True)
    assert cfg.hydra.sweeper.params["model.units"] == "10,20,30"


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_preset_trains_a_short_run(name, request, tmp_path):
    from rnn_sweep.train.runner import train_run

    stepped = name.startswith("tutorial_keras_simplernn50")
    quick = [*QUICK, "train.steps=7", "train.eval_every=3"] if stepped else QUICK
    if "pixels" in name:
        quick = [*quick, "data.limit_train=20", "data.limit_test=10", "train.batch_size=10"]
    path = request.getfixturevalue("fashion_path" if name.startswith("fashion_") else "mnist_path")
    cfg = typed_config(f"experiment={name}", f"data.path={path}", *quick)
    record = train_run(cfg, tmp_path, [], Console(file=io.StringIO()))
    assert record["status"] == "ok", record["error"]
    assert record["preset"] == name and record["sequence"] == cfg.data.sequence
    assert record["data"] == cfg.data.name and record["preset_measures"] == cfg.preset.measures
    assert 0 <= record["test_accuracy"] <= 1
    if cfg.train.validation_split == 0:
        assert record["val_samples"] == 0 and record["best_val_accuracy"] is None
        assert record["validation"] == "none (validation_split=0)"
        history = pd.read_csv(tmp_path / "history.csv")
        assert history["val_accuracy"].isna().all() and history["accuracy"].notna().all()
    if stepped:
        # 100 training images at batch 50: 2 steps an epoch, so 7 steps end inside the 4th epoch; the tutorial's
        # loop evaluates after the first step, then every 3.
        assert record["steps"] == 7 and record["epochs_completed"] == 4 and record["evaluations"] == 3
        steps = pd.read_csv(tmp_path / "steps.csv")
        assert steps["step"].tolist() == [1, 4, 7]
        printed = [PRINTED[1] if name == "tutorial_keras_simplernn50" else None, None, None]
        assert [None if pd.isna(value) else value for value in steps["reported_test_accuracy"]] == printed
        # The step evaluations leave the training metrics alone: history.csv reports training, not the test set.
        assert pd.read_csv(tmp_path / "history.csv")["loss"].iloc[-1] != pytest.approx(steps["test_loss"].iloc[-1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("layout", "shape"),
    [("rows", (28, 28)), ("columns", (28, 28)), ("pixels", (784, 1)), ("permuted_pixels", (784, 1))],
)
def test_sequence_layouts_give_their_shapes(layout, shape):
    images = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    sequences = to_sequences(images, layout, permutation_seed=5)
    assert sequences.shape == (3, *shape) == (3, *sequence_shape(layout))
    cfg = typed_config(f"data.sequence={layout}", "model.units=4")
    model = build_model(cfg.model, input_shape=sequence_shape(layout))
    assert model.input_shape == (None, *shape)
    expected = {
        "rows": images,
        "columns": images.transpose(0, 2, 1),
        "pixels": images.reshape(3, 784, 1),
        "permuted_pixels": images.reshape(3, 784)[:, pixel_permutation(5)][..., None],
    }[layout]
    np.testing.assert_array_equal(sequences, expected)


def test_permutation_is_fixed_by_its_seed():
    first = pixel_permutation(0)
    assert np.array_equal(first, pixel_permutation(0))
    assert not np.array_equal(first, pixel_permutation(1))
    assert sorted(first) == list(range(784)) and not np.array_equal(first, np.arange(784))
    images = np.random.default_rng(1).random((2, 28, 28), dtype=np.float32)
    assert np.array_equal(to_sequences(images, "permuted_pixels", 3), to_sequences(images, "permuted_pixels", 3))
    assert not np.array_equal(to_sequences(images, "permuted_pixels", 3), to_sequences(images, "permuted_pixels", 4))


def _at(schedule: Any, *steps: int) -> list[float]:
    return [float(schedule(step)) for step in steps]


@pytest.mark.slow
def test_constant_without_warmup_is_a_plain_float():
    assert build_schedule("constant", 0.01, total_steps=100, steps_per_epoch=10, warmup_epochs=0) == 0.01


@pytest.mark.slow
def test_constant_with_warmup_rises_linearly_then_holds():
    schedule = build_schedule("constant", 0.01, total_steps=100, steps_per_epoch=10, warmup_epochs=1)
    assert _at(schedule, 0, 4, 9, 10, 99) == pytest.approx([0.001, 0.005, 0.01, 0.01, 0.01])


@pytest.mark.slow
def test_cosine_decays_from_the_peak_to_zero_after_warmup():
    plain = build_schedule("cosine", 0.002, total_steps=100, steps_per_epoch=10, warmup_epochs=0)
    assert _at(plain, 0, 50, 100) == pytest.approx([0.002, 0.001, 0.0], abs=1e-9)
    warm = build_schedule("cosine", 0.002, total_steps=110, steps_per_epoch=10, warmup_epochs=1)
    assert _at(warm, 0, 9, 10, 60, 110) == pytest.approx([0.0002, 0.002, 0.002, 0.001, 0.0], abs=1e-9)


@pytest.mark.slow
def test_one_cycle_warms_up_over_30_percent_then_anneals():
    schedule = build_schedule("one_cycle", 0.01, total_steps=100, steps_per_epoch=10, warmup_epochs=0)
    start = 0.01 / 25
    assert _at(schedule, 0, 29, 30, 65, 100) == pytest.approx(
        [start + (0.01 - start) / 30, 0.01, 0.01, (0.01 + start / 1e4) / 2, start / 1e4], rel=1e-4
    )


def _count(model, kind) -> int:
    return sum(isinstance(layer, kind) for layer in model.layers)


@pytest.mark.slow
def test_stacked_bidirectional_layernorm_and_dense_stack_build_as_configured():
    model = build_model(typed_config("model=gru", "model.units=8", "model.layers=3", "model.bidirectional=true",
                             "model.layer_norm=true", "model.dense_layers=2", "model.dense_units=16",
                             "model.head_dropout=0.3", "model.output_activation=softmax").model)
    assert _count(model, keras.layers.Bidirectional) == 3
    assert _count(model, keras.layers.LayerNormalization) == 3
    assert _count(model, keras.layers.Dense) == 3 and _count(model, keras.layers.Dropout) == 1
    assert [layer.return_sequences for layer in model.layers if isinstance(layer, keras.layers.Bidirectional)] == [
        True, True, False]
    assert model.output_shape == (None, 10)
    assert model.layers[-1].activation.__name__ == "softmax"
    plain = build_model(typed_config("model=lstm", "model.units=8", "model.layers=2").model)
    assert _count(plain, keras.layers.LSTM) == 2 and _count(plain, keras.layers.LayerNormalization) == 0


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("model.layers=0", ">= 1"),
        ("model.dense_layers=-1", ">= 0"),
        ("model.dense_units=0", ">= 1"),
        ("model.dense_activation=bogus", "tanh"),
        ("model.head_dropout=1.0", "< 1"),
        ("model.output_activation=relu", "linear, softmax"),
        ("data.sequence=spiral", "rows, columns, pixels, permuted_pixels"),
        ("data.permutation_seed=-1", ">= 0"),
        ("train.steps=0", ">= 1"),
        ("train.eval_every=0", ">= 1"),
        ("train.first_eval_step=0", ">= 1"),
        ("train.validation_split=-0.1", ">= 0"),
        ("model.output_layers=0", ">= 1"),
        ("train.lr_schedule=step", "constant, cosine, one_cycle"),
        ("train.warmup_epochs=-1", ">= 0"),
        ("train.label_smoothing=1.0", "< 1"),
        ("preset.reported_test_accuracy=1.5", "<= 1"),
        ("preset.target_test_accuracy=-0.1", ">= 0"),
    ],
)
def test_new_keys_refuse_bad_values(override, named):
    with pytest.raises(ConfigError) as raised:
        typed_config(override)
    assert override.split("=")[0] in str(raised.value) and named in str(raised.value)


@pytest.mark.parametrize("key", ["bidirectional", "layer_norm"])
def test_new_switches_refuse_non_booleans_in_saved_configs(key):
    plain = OmegaConf.create(OmegaConf.to_yaml(compose_config()))
    plain.model[key] = "maybe"
    with pytest.raises(ConfigError, match=f"model.{key}"):
        validate(plain)


def test_preset_is_not_part_of_the_run_identity():
    from rnn_sweep.record.identity import config_hash

    assert config_hash(typed_config("preset.name=x")) == config_hash(typed_config())



def test_unknown_preset_is_refused_with_the_list(tmp_path):
    from helpers.cli import run_cli

    result = run_cli("experiment=nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "nope" in result.stderr and "best_lstm" in result.stderr and "tutorial_cell_size" in result.stderr
    assert not (tmp_path / "outputs").exists()


def test_summary_shows_the_reported_figure_beside_the_measured_one():
    from rnn_sweep.report.run_console import print_run_summary

    console = Console(file=io.StringIO(), width=200)
    print_run_summary({"status": "ok", "preset": "tutorial_basicrnn150", "test_accuracy": 0.97,
                       "reported_test_accuracy": 0.9809}, console)
    shown = console.file.getvalue()
    assert "tutorial_basicrnn150" in shown and "reported test accuracy" in shown and "0.9809" in shown
    plain = Console(file=io.StringIO(), width=200)
    print_run_summary({"status": "ok", "test_accuracy": 0.97}, plain)
    assert "reported" not in plain.file.getvalue() and "preset" not in plain.file.getvalue()


def test_report_lists_each_preset_with_mean_and_spread_over_its_seeds(tmp_path):
    """docs/configuration.md's presets table comes from `rnn-sweep report`: seeds folded into mean ± std."""
    sweep = tmp_path / "sweep"
    jobs = [("best_lstm", seed, "ok", accuracy) for seed, accuracy in ((0, 0.9904), (1, 0.9910), (2, 0.9913))]
    jobs += [("best_lstm", 3, "failed", None), ("tutorial_basicrnn150", 0, "ok", 0.9756), (None, 0, "ok", 0.5)]
    for job, (preset, seed, status, accuracy) in enumerate(jobs):
        folder = sweep / str(job)
        write_result(folder, {
            **dict.fromkeys(COLUMNS), "run_dir": str(folder), "status": status, "cell": "lstm", "units": 128,
            "batch_size": 128, "optimizer": "adam", "learning_rate": 0.003, "epochs": 10, "seed": seed,
            "test_accuracy": accuracy, "train_seconds": 300.0 + job, "epoch_seconds": 21.0, "epochs_completed": 10,
            "device": "CPU", "preset": preset, "overrides": f"experiment={preset} seed={seed}",
            "target_test_accuracy": 0.99 if preset == "best_lstm" else None,
            "reported_test_accuracy": 0.9809 if preset == "tutorial_basicrnn150" else None,
        })
    result = run_cli("report", str(sweep), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    presets = pd.read_csv(sweep / "presets.csv").set_index("preset")
    assert list(presets.index) == ["best_lstm", "tutorial_basicrnn150"]  # failed and preset-less jobs left out
    lstm, tutorial = presets.loc["best_lstm"], presets.loc["tutorial_basicrnn150"]
    assert lstm["runs"] == 3 and json.loads(lstm["seeds"]) == [0, 1, 2] and lstm["target_test_accuracy"] == 0.99
    assert lstm["test_accuracy_mean"] == pytest.approx(0.9909) and lstm["train_seconds_mean"] == pytest.approx(301)
    assert lstm["test_accuracy_std"] == pytest.approx(np.std([0.9904, 0.9910, 0.9913], ddof=1))
    assert tutorial["runs"] == 1 and tutorial["reported_test_accuracy"] == 0.9809
    assert pd.isna(tutorial["test_accuracy_std"])
    assert "0.9909 ± 0.0005 (0.9904 0.9910 0.9913)" in result.stdout and ">= 0.99 target" in result.stdout
    assert "0.9809 reported" in result.stdout
