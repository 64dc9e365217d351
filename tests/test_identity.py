"""What a job is: the config hash that decides which runs are the same job, and when a record counts as that
job finished. Resume trusts these answers to skip work or to keep a folder untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.config import compose_config, typed_config
from omegaconf import OmegaConf

from rnn_sweep.config.schema import LATER_KEYS, NON_IDENTITY_KEYS
from rnn_sweep.record.columns import HYDRA_DIR
from rnn_sweep.record.identity import config_hash, identity_of, is_finished, saved_config_identity

# A config's hash as recorded by rnn-sweep before model.output_layers and train.first_eval_step existed.
OLDER = ("model=gru", "model.units=16", "train.epochs=2", "seed=3")
OLDER_HASH = "e2691faabc40052c"
# A value other than the default for every key that does not decide what is trained.
ELSEWHERE = {"data.path": "/elsewhere", "train.save_model": False, "train.tensorboard": True, "train.threads": 3,
             "train.steps_per_execution": 4, "model.batch_shards": 2}


def test_the_hash_is_short_hex_and_stable_for_a_config_recorded_long_ago():
    assert config_hash(typed_config(*OLDER)) == OLDER_HASH
    assert config_hash(typed_config(*OLDER)) == config_hash(typed_config(*reversed(OLDER)))


@pytest.mark.parametrize("override", ["model.units=64", "seed=4", "model=lstm", "train.epochs=3",
                                      "optimizer.learning_rate=0.01", "train.batch_size=32", "data=fashion_mnist"])
def test_whatever_decides_the_training_changes_the_hash(override):
    assert config_hash(typed_config(*OLDER, override)) != OLDER_HASH


@pytest.mark.parametrize(("key", "value"), ELSEWHERE.items())
def test_where_or_how_fast_a_job_runs_leaves_its_hash(key, value):
    assert key in NON_IDENTITY_KEYS
    cfg = typed_config(*OLDER)
    OmegaConf.update(cfg, key, value, force_add=True)
    assert config_hash(cfg) == OLDER_HASH


def test_a_preset_name_leaves_the_hash():
    assert "preset" in NON_IDENTITY_KEYS
    cfg = typed_config(*OLDER)
    OmegaConf.update(cfg, "preset", {"name": "tutorial"}, force_add=True)
    assert config_hash(cfg) == OLDER_HASH


@pytest.mark.parametrize(("key", "other"), [("model.output_layers", 2), ("train.first_eval_step", 1)])
def test_a_key_added_later_is_left_out_only_at_its_default(key, other):
    cfg = typed_config(*OLDER)
    assert OmegaConf.select(cfg, key) == LATER_KEYS[key]
    OmegaConf.update(cfg, key, other)
    assert config_hash(cfg) != OLDER_HASH
    OmegaConf.update(cfg, key, LATER_KEYS[key])
    assert config_hash(cfg) == OLDER_HASH


def test_an_interpolated_value_is_hashed_as_what_it_resolves_to():
    interpolated = typed_config(*OLDER)
    interpolated.model.units = "${train.epochs}"  # 2
    plain = typed_config(*OLDER)
    plain.model.units = 2
    assert config_hash(interpolated) == config_hash(plain) != OLDER_HASH


def test_values_json_has_no_form_for_are_hashed_by_their_text():
    assert config_hash(OmegaConf.create({"seed": 1, "where": Path("/x")})) == config_hash(
        OmegaConf.create({"seed": 1, "where": "/x"}))


def test_a_config_without_the_sections_of_the_left_out_keys_still_hashes():
    small = OmegaConf.create({"seed": 1, "model": {"units": 8}})
    assert config_hash(small) == config_hash(OmegaConf.create({"seed": 1, "model": {"units": 8}, "preset": None}))
    assert config_hash(small) != config_hash(OmegaConf.create({"seed": 2, "model": {"units": 8}}))


@pytest.mark.parametrize(("record", "identity"), [
    (None, None), ({}, None), ({"config_hash": None}, None), ({"config_hash": float("nan")}, None),
    ({"config_hash": 12}, None), ({"config_hash": OLDER_HASH}, OLDER_HASH),
])
def test_a_records_identity_is_its_hash_text_or_none(record, identity):
    assert identity_of(record) == identity


@pytest.mark.parametrize(("record", "finished"), [
    ({"status": "ok", "config_hash": OLDER_HASH}, True),
    ({"status": "ok", "config_hash": "0123456789abcdef"}, False),  # another job's result
    ({"status": "ok"}, False),  # a record without identity is no one's finished job
    ({"status": "failed", "config_hash": OLDER_HASH}, False),
    ({"status": "interrupted", "config_hash": OLDER_HASH}, False),
    ({"status": "pruned", "config_hash": OLDER_HASH}, False),
    ({"config_hash": OLDER_HASH}, False),
    (None, False),
])
def test_a_job_is_finished_only_by_an_ok_record_of_its_own_identity(record, finished):
    assert is_finished(record, OLDER_HASH) is finished


def test_a_record_without_identity_does_not_finish_a_job_without_one():
    assert not is_finished(None, None) and is_finished({"status": "ok"}, None)


def test_a_job_folder_without_a_record_has_the_identity_of_the_config_hydra_saved(tmp_path):
    folder = tmp_path / "0"
    assert saved_config_identity(folder) is None  # nothing saved
    (folder / HYDRA_DIR).mkdir(parents=True)
    saved = folder / HYDRA_DIR / "config.yaml"
    OmegaConf.save(compose_config(*OLDER), saved)
    assert saved_config_identity(folder) == OLDER_HASH
    assert saved_config_identity(str(folder)) == OLDER_HASH

    text = saved.read_text()
    saved.write_text(text[: text.index("cell: gru") + len("cell: gr")])  # cut short by a kill, in a value
    assert saved_config_identity(folder) is None
    saved.write_text("model:\n  units: many\n")  # not a config of this tool
    assert saved_config_identity(folder) is None
