"""The sweep folder index that resume looks jobs up through: kept up to date across lookups as job folders are
made, removed, made again under the same name (on the same inode too) and damaged, without re-reading the sweep."""

from __future__ import annotations

import shutil

from helpers.config import compose_config

from rnn_sweep.config.validate import validate
from rnn_sweep.record.columns import RESULT_FILE
from rnn_sweep.record.identity import config_hash
from rnn_sweep.record.result_files import new_record, write_result
from rnn_sweep.sweep import folder_index
from rnn_sweep.sweep.folder_index import DAMAGED, FolderIndex

JOB = ("model=gru", "model.units=8", "seed=0")
OTHER = ("model=gru", "model.units=8", "seed=1")


def _identity(*overrides: str) -> str:
    return config_hash(validate(compose_config(*overrides)))


def _record(folder, *overrides: str, status: str = "ok") -> None:
    write_result(folder, {**new_record(validate(compose_config(*overrides)), folder, []), "status": status})


def test_a_lookup_finds_the_folder_of_a_finished_job_by_its_identity(tmp_path):
    _record(tmp_path / "0", *OTHER, status="ok")
    _record(tmp_path / "1", *JOB, status="failed")
    _record(tmp_path / "nested" / "2", *JOB, status="ok")
    index = FolderIndex(tmp_path)
    assert index.own_folder(_identity(*JOB)) == tmp_path / "nested" / "2"
    assert index.own_folder(_identity(*OTHER)) == tmp_path / "0"
    assert index.own_folder(_identity("model=lstm", "seed=0")) is None


def test_a_folder_made_after_the_first_lookup_is_found(tmp_path):
    _record(tmp_path / "0", *OTHER)
    index = FolderIndex(tmp_path)
    assert index.own_folder(_identity(*JOB)) is None
    _record(tmp_path / "1", *JOB)
    assert index.own_folder(_identity(*JOB)) == tmp_path / "1"
    assert index.job_folders() == [tmp_path / "0", tmp_path / "1"]


def test_a_removed_folder_is_dropped(tmp_path):
    _record(tmp_path / "0", *JOB)
    _record(tmp_path / "1", *OTHER)
    index = FolderIndex(tmp_path)
    assert index.own_folder(_identity(*JOB)) == tmp_path / "0"
    shutil.rmtree(tmp_path / "0")
    assert index.own_folder(_identity(*JOB)) is None
    assert index.job_folders() == [tmp_path / "1"]
    assert index.holder(tmp_path / "0") is None


def test_a_folder_removed_and_made_again_is_read_again_even_on_the_same_inode(tmp_path):
    _record(tmp_path / "0", *JOB)
    index = FolderIndex(tmp_path)
    assert index.own_folder(_identity(*JOB)) == tmp_path / "0"
    inode = (tmp_path / "0").stat().st_ino
    shutil.rmtree(tmp_path / "0")
    (tmp_path / "0").mkdir()  # the file system usually hands the freed inode straight back
    same_inode = (tmp_path / "0").stat().st_ino == inode
    _record(tmp_path / "0", *OTHER)
    # looking for the new identity first: a lookup of the old one would re-read the folder whatever the index keeps
    assert index.own_folder(_identity(*OTHER)) == tmp_path / "0", f"same inode: {same_inode}"
    assert index.holder(tmp_path / "0") == _identity(*OTHER)
    assert index.own_folder(_identity(*JOB)) is None


def test_a_folder_changed_since_its_parent_is_read_again_at_the_parents_next_change(tmp_path, monkeypatch):
    """Its change time may share a clock tick with that of the same folder made again on the same inode, so its
    stamp cannot tell the two apart yet: the next listing of its parent must read it again, not trust the stamp."""
    _record(tmp_path / "0", *JOB)  # the record lands after the folder was made: changed no earlier than its parent
    index = FolderIndex(tmp_path)
    index.refresh()
    look, read = folder_index._look, []
    monkeypatch.setattr(folder_index, "_look", lambda folder: read.append(folder) or look(folder))
    (tmp_path / "1").mkdir()
    index.refresh()
    assert read == [tmp_path / "0"]


def test_a_damaged_record_is_held_as_damaged_not_raised(tmp_path):
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / RESULT_FILE).write_bytes(b'{"status": "ok", "config_')
    index = FolderIndex(tmp_path)
    assert index.own_folder(_identity(*JOB)) is None
    assert index.holder(tmp_path / "0") == DAMAGED
    _record(tmp_path / "1", *JOB)
    (tmp_path / "1" / RESULT_FILE).write_bytes(b"[]")  # damaged after the index read it as JOB's: a lookup re-reads it
    assert index.own_folder(_identity(*JOB)) is None
    assert index.holder(tmp_path / "1") == DAMAGED
