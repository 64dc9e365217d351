"""The sweep folder index that resume looks jobs up through: kept up to date across lookups as job folders are
made, removed, made again under the same name (on the same inode too) and damaged, without re-reading the sweep;
never led by a link into another sweep's folders, nor tripped by odd entries or a folder removed while it reads."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

import pytest
from helpers.cli import wait_until
from helpers.config import compose_config
from omegaconf import OmegaConf

from rnn_sweep.config.validate import validate
from rnn_sweep.record.columns import HYDRA_DIR, RESULT_FILE
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


def _saved_config(folder, *overrides: str) -> None:
    """What Hydra leaves in a job folder before the job starts: the config it saved, no record yet."""
    (folder / HYDRA_DIR).mkdir(parents=True, exist_ok=True)
    OmegaConf.save(compose_config(*overrides), folder / HYDRA_DIR / "config.yaml")


def _known(index: FolderIndex) -> dict[Path, str | None]:
    return {folder: index.holder(folder) for folder in index.job_folders()}


def _changed_at(folder: Path) -> int:
    """When `folder`'s listing last changed, by the file system's clock (ns)."""
    info = folder.stat()
    return max(info.st_mtime_ns, info.st_ctime_ns)


def _a_tick_later(folder: Path, than: int) -> None:
    """Change `folder` (make and remove a folder in it) until its change time is past `than`. File times advance in
    ticks of the file system's clock (a few ms here): which changes share a tick decides what the index may trust, so
    a test that needs two changes apart waits for that state, not for a fixed time."""

    def touched_past() -> bool:
        (folder / "tick").mkdir()
        (folder / "tick").rmdir()
        return folder.stat().st_ctime_ns > than

    wait_until(touched_past, f"change time of {folder} past {than} ns", timeout=10)


HOUR = 3_600_000_000_000


def _an_hour_later() -> int:
    """A clock an hour ahead: the sweep was written long ago, as when a sweep is resumed."""
    return time.time_ns() + HOUR


@pytest.fixture
def disk(monkeypatch) -> dict[str, list[Path]]:
    """The folders the index stats, lists and reads, in order (each call made for real): the work a lookup costs."""
    done: dict[str, list[Path]] = {"stat": [], "list": [], "read": []}
    for kind, name in (("stat", "_stamp"), ("list", "_subfolders"), ("read", "_look")):
        real = getattr(folder_index, name)
        monkeypatch.setattr(folder_index, name, lambda at, real=real, kind=kind: done[kind].append(at) or real(at))
    return done


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


def test_a_lookup_ranks_the_folders_of_one_identity_finished_first_then_by_path(tmp_path):
    _record(tmp_path / "a", *JOB, status="interrupted")
    _record(tmp_path / "b", *JOB, status="failed")
    _saved_config(tmp_path / "c", *JOB)  # killed before its record: it holds JOB, unfinished
    _record(tmp_path / "d", *JOB, status="ok")
    _record(tmp_path / "e", *JOB, status="ok")
    index = FolderIndex(tmp_path)
    assert index.own_folder(_identity(*JOB)) == tmp_path / "d"
    shutil.rmtree(tmp_path / "d")
    shutil.rmtree(tmp_path / "e")
    assert index.own_folder(_identity(*JOB)) == tmp_path / "a"  # none finished: the first by path
    shutil.rmtree(tmp_path / "a")
    shutil.rmtree(tmp_path / "b")
    assert index.own_folder(_identity(*JOB)) == tmp_path / "c"
    _record(tmp_path / "f", *JOB, status="ok")
    assert index.own_folder(_identity(*JOB)) == tmp_path / "f"  # a saved config is not a finished job


def test_a_lookup_of_a_job_known_finished_reads_its_folder_and_nothing_else(tmp_path, disk):
    """Resume looks every job up: were each lookup to go over the sweep folder, a sweep would cost its jobs squared."""
    _record(tmp_path / "0", *JOB)
    _record(tmp_path / "1", *OTHER)
    index = FolderIndex(tmp_path)
    index.refresh()
    for kind in disk.values():
        kind.clear()
    assert index.own_folder(_identity(*JOB)) == tmp_path / "0"
    assert disk == {"stat": [], "list": [], "read": [tmp_path / "0"]}


@pytest.mark.parametrize(("age", "listed_again"),
                         [(0, True), (1_999_999_999, True), (2_000_000_000, False), (HOUR, False)])
def test_a_folder_is_listed_again_until_its_last_change_is_2_s_old(tmp_path, disk, age, listed_again):
    """A change within the same tick of the file system's clock (up to 2 s on some) leaves a folder's times as they
    were: a listing younger than that could miss one, so the next refresh lists the folder again."""
    _record(tmp_path / "0", *JOB)
    index = FolderIndex(tmp_path, clock=lambda: _changed_at(tmp_path) + age)
    index.refresh()
    disk["list"].clear()
    index.refresh()
    assert disk["list"] == ([tmp_path] if listed_again else [])
    assert index.job_folders() == [tmp_path / "0"]


def test_a_refresh_of_an_old_sweep_after_a_new_job_reads_that_job_alone(tmp_path, disk):
    """A resumed sweep gains a job folder at a time: the folders that did not change are neither listed nor read."""
    _record(tmp_path / "0", *JOB)
    _record(tmp_path / "nested" / "2", *OTHER)
    _a_tick_later(tmp_path, than=max(child.stat().st_ctime_ns for child in tmp_path.iterdir()))
    index = FolderIndex(tmp_path, clock=_an_hour_later)
    index.refresh()
    for kind in disk.values():
        kind.clear()
    index.refresh()  # nothing changed
    assert (disk["list"], disk["read"]) == ([], [])
    changed = _changed_at(tmp_path)
    _record(tmp_path / "3", *JOB, status="failed")
    _a_tick_later(tmp_path, than=changed)
    index.refresh()
    assert (disk["list"], disk["read"]) == ([tmp_path], [tmp_path / "3"])
    assert index.job_folders() == [tmp_path / "0", tmp_path / "3", tmp_path / "nested" / "2"]


def test_a_job_folder_hydra_made_before_saving_its_config_is_read_again_at_its_parents_next_change(tmp_path):
    """Hydra makes `.hydra/` before it saves the config there, which changes `.hydra/`, not the job folder."""
    (tmp_path / "0" / HYDRA_DIR).mkdir(parents=True)
    _a_tick_later(tmp_path, than=(tmp_path / "0").stat().st_ctime_ns)  # the job folder is older than its parent
    index = FolderIndex(tmp_path)
    assert index.own_folder(_identity(*JOB)) is None
    assert index.job_folders() == [tmp_path / "0"]
    changed = _changed_at(tmp_path)
    _saved_config(tmp_path / "0", *JOB)
    (tmp_path / "1").mkdir()  # the next job's folder
    _a_tick_later(tmp_path, than=changed)
    assert index.own_folder(_identity(*JOB)) == tmp_path / "0"


def test_a_folder_removed_with_the_job_folders_in_it_drops_them_all(tmp_path):
    _record(tmp_path / "0", *OTHER)
    _record(tmp_path / "nested" / "2", *JOB)
    _record(tmp_path / "nested" / "deeper" / "4", *JOB)
    index = FolderIndex(tmp_path)
    assert index.own_folder(_identity(*JOB)) == tmp_path / "nested" / "2"
    shutil.rmtree(tmp_path / "nested")
    assert index.own_folder(_identity(*JOB)) is None
    assert index.job_folders() == [tmp_path / "0"]


def test_a_sweep_folder_removed_and_started_again_in_the_same_place_is_known_afresh(tmp_path):
    sweep = tmp_path / "sweep"
    _record(sweep / "0", *JOB)
    _record(sweep / "nested" / "2", *OTHER)
    index = FolderIndex(sweep)
    assert index.own_folder(_identity(*JOB)) == sweep / "0"
    shutil.rmtree(sweep)
    index.refresh()
    assert index.job_folders() == []
    assert index.own_folder(_identity(*OTHER)) is None
    _record(sweep / "1", *OTHER)
    assert index.own_folder(_identity(*OTHER)) == sweep / "1"
    assert index.job_folders() == [sweep / "1"]


def test_a_folder_that_becomes_a_job_folder_hides_what_was_below_it_as_a_fresh_index_would(tmp_path):
    _record(tmp_path / "a" / "0", *JOB)
    index = FolderIndex(tmp_path)
    assert index.own_folder(_identity(*JOB)) == tmp_path / "a" / "0"
    _record(tmp_path / "a", *OTHER)  # `a` is a job folder now: nothing below it is a job of the sweep
    index.refresh()
    fresh = FolderIndex(tmp_path)
    fresh.refresh()
    assert _known(index) == _known(fresh) == {tmp_path / "a": _identity(*OTHER)}
    assert index.own_folder(_identity(*JOB)) is None


def test_links_hydras_own_folder_and_odd_entries_are_never_taken_for_jobs(tmp_path):
    """A link to another sweep's job folder, or to a whole sweep, would make its finished jobs count as this one's."""
    other, sweep = tmp_path / "other", tmp_path / "sweep"
    _record(other / "5", *JOB)
    _record(sweep / "0", *OTHER)
    (sweep / "linked-job").symlink_to(other / "5", target_is_directory=True)
    (sweep / "linked-sweep").symlink_to(other, target_is_directory=True)
    (sweep / "dangling").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    _saved_config(sweep, *JOB)  # a `.hydra/` in the sweep folder itself is no job of it
    os.mkfifo(sweep / "pipe")
    (sweep / "multirun.yaml").write_text("{}\n")
    index = FolderIndex(sweep)
    assert index.own_folder(_identity(*JOB)) is None
    assert index.job_folders() == [sweep / "0"]
    assert index.own_folder(_identity(*OTHER)) == sweep / "0"


def test_a_folder_removed_between_its_listing_and_its_stat_is_left_out(tmp_path, monkeypatch):
    """Another process may remove a folder while the index reads its parent: the lookup goes on without it. The
    listing is taken whole, then the folder removed, so the removal falls between the two for certain."""
    _record(tmp_path / "0", *JOB)
    _record(tmp_path / "gone", *OTHER)
    scandir = os.scandir

    def listed_then_removed(path):
        if path != tmp_path or not (tmp_path / "gone").exists():
            return scandir(path)
        with scandir(path) as listing:
            entries = list(listing)
        shutil.rmtree(tmp_path / "gone")
        return contextlib.nullcontext(entries)

    monkeypatch.setattr(os, "scandir", listed_then_removed)
    index = FolderIndex(tmp_path)
    assert index.own_folder(_identity(*JOB)) == tmp_path / "0"
    assert index.job_folders() == [tmp_path / "0"]
