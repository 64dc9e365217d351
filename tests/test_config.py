"""Config composition through Hydra's compose API, and validation against the schema."""

from __future__ import annotations

import pytest
from helpers.config import compose_config, typed_config
from omegaconf import OmegaConf

from rnn_sweep.config.schema import CELLS, OPTIMIZERS
from rnn_sweep.config.validate import validate
from rnn_sweep.errors import ConfigError
from rnn_sweep.record.identity import config_hash


def test_defaults_compose_and_validate():
    cfg = validate(compose_config())
    assert cfg.model.cell == "lstm"
    assert cfg.optimizer.name == "adam"
    assert cfg.data.name == "mnist"
    assert cfg.train.batch_size >= 1 and cfg.train.epochs >= 1
    assert 0 < cfg.train.validation_split < 1
    assert isinstance(cfg.seed, int)


@pytest.mark.parametrize("cell", CELLS)
def test_each_cell_composes_with_its_own_keys(cell):
    cfg = validate(compose_config(f"model={cell}", "model.units=7"))
    assert cfg.model.cell == cell and cfg.model.units == 7
    assert ("recurrent_activation" in cfg.model) == (cell != "simple_rnn")
    assert ("reset_after" in cfg.model) == (cell == "gru")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_composes_with_learning_rate_and_knobs(name):
    cfg = validate(compose_config(f"optimizer={name}", "optimizer.learning_rate=0.05"))
    assert cfg.optimizer.name == name and cfg.optimizer.learning_rate == 0.05
    knobs = {"adam": "beta_1", "sgd": "momentum", "rmsprop": "rho", "adamw": "weight_decay"}
    assert knobs[name] in cfg.optimizer


def test_data_path_defaults_to_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RNN_SWEEP_DATA", str(tmp_path))
    assert validate(compose_config()).data.path == str(tmp_path)
    monkeypatch.delenv("RNN_SWEEP_DATA")
    assert validate(compose_config()).data.path is None


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("model.units=0", "model.units=0"),
        ("model.units=-3", "model.units=-3"),
        ("train.batch_size=0", "train.batch_size=0"),
        ("train.epochs=0", "train.epochs=0"),
        ("train.validation_split=1.0", "train.validation_split=1.0"),
        ("train.validation_split=-0.1", "train.validation_split=-0.1"),
        ("optimizer.learning_rate=0", "optimizer.learning_rate=0"),
        ("train.device=tpu", "auto, cpu, gpu"),
        ("model.activation=bogus", "tanh"),
        ("data.limit_train=3", "data.limit_train=3"),
    ],
)
def test_out_of_range_values_are_refused(override, named):
    with pytest.raises(ConfigError) as raised:
        validate(compose_config(override))
    assert named in str(raised.value)


def test_unknown_cell_in_a_saved_config_names_the_allowed_ones():
    cfg = compose_config()
    cfg.model.cell = "transformer"
    with pytest.raises(ConfigError, match="simple_rnn, lstm, gru"):
        validate(cfg)


def test_saved_config_without_schema_is_typed_and_checked():
    """A run folder's .hydra/config.yaml is plain YAML: validation must still type and check it."""
    plain = OmegaConf.create(OmegaConf.to_yaml(compose_config("model=gru")))
    typed = validate(plain)
    assert typed.model.reset_after is True
    plain.model.units = "many"
    with pytest.raises(ConfigError, match="model.units"):
        validate(plain)
    plain.model.units = 8
    plain.optimizer.momentum = 0.9  # an SGD knob on Adam
    with pytest.raises(ConfigError, match="optimizer.momentum"):
        validate(plain)


def test_config_hash_tracks_what_is_trained_not_where_data_lives():
    base = config_hash(validate(compose_config()))
    assert base == config_hash(validate(compose_config()))
    assert base != config_hash(validate(compose_config("model.units=64")))
    assert base != config_hash(validate(compose_config("seed=1")))
    assert base == config_hash(validate(compose_config("data.path=/elsewhere", "train.save_model=false")))


def test_collect_results_reads_run_and_sweep_folders(tmp_path):
    from rnn_sweep.record.columns import COLUMNS
    from rnn_sweep.record.result_files import collect_results, write_result

    for job in ("0", "1", "10"):
        write_result(tmp_path / "sweep" / job, {**dict.fromkeys(COLUMNS), "run_dir": job, "status": "ok"})
    # run_dir: where each record is now (a moved sweep's records still point at their own folders)
    assert [r["run_dir"] for r in collect_results(tmp_path / "sweep")] == [str(tmp_path / "sweep" / job)
                                                                           for job in ("0", "1", "10")]
    assert [r["run_dir"] for r in collect_results(tmp_path / "sweep" / "1")] == [str(tmp_path / "sweep" / "1")]
    assert collect_results(tmp_path / "empty") == []


def test_keys_added_later_keep_older_runs_identity_while_at_their_default():
    """The hash rnn-sweep recorded for this run before model.output_layers and train.first_eval_step existed: a
    resumed older sweep must still recognise its finished jobs."""
    overrides = ("model=gru", "model.units=16", "train.epochs=2", "seed=3")
    assert config_hash(typed_config(*overrides)) == "e2691faabc40052c"
    assert config_hash(typed_config(*overrides, "model.output_layers=2")) != "e2691faabc40052c"
    assert config_hash(typed_config(*overrides, "train.first_eval_step=1")) != "e2691faabc40052c"
