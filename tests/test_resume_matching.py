"""Resume's matching, folder by folder: which job folder a job of a resumed or grown sweep goes to, and which record
in it counts as that job done. tests/test_resume_bookkeeping.py drives whole sweep commands through the same
functions; these are the single cases, each with the folder it must choose."""

from __future__ import annotations

import pytest
from helpers.config import compose_config
from omegaconf import OmegaConf, open_dict

from rnn_sweep.config.validate import validate
from rnn_sweep.errors import ConfigError, NoRoomForRecord
from rnn_sweep.record.columns import HYDRA_DIR, RESULT_FILE
from rnn_sweep.record.identity import config_hash, job_identity
from rnn_sweep.record.result_files import new_record, write_result
from rnn_sweep.sweep.folder_index import DAMAGED, FolderIndex
from rnn_sweep.sweep.resume import (
    RESOLVER,
    finished_records,
    finished_result,
    job_dir,
    register_resolver,
    settled_result,
    through_resolver,
)

JOB = ("model=gru", "model.units=8", "seed=0")
OTHER = ("model=gru", "model.units=8", "seed=1")


def _typed(*overrides: str):
    return validate(compose_config(*overrides))


def _folder_of(sweep, name: object = 0, *overrides: str, **root_keys: object) -> str:
    """The folder `job_dir` gives the job of `overrides` (JOB by default) numbered `name` in `sweep`; `root_keys`:
    top-level keys of the composed config set beside them (`hydra` gets the sweep folder added)."""
    root = compose_config(*(overrides or JOB))
    with open_dict(root):
        root.hydra = {**root_keys.pop("hydra", {}), "sweep": {"dir": str(sweep)}}
        for key, value in root_keys.items():
            root[key] = value
    return job_dir(name, _root_=root)


def identities(sweep) -> dict:
    """Every job folder below `sweep` with the identity it holds, as a fresh index reads them."""
    index = FolderIndex(sweep)
    index.refresh()
    return {folder: index.holder(folder) for folder in index.job_folders()}


def _record(folder, *overrides: str, status: str = "ok") -> dict:
    record = {**new_record(_typed(*(overrides or JOB)), folder, []), "status": status}
    write_result(folder, record)
    return record


def _saved_config(folder, *overrides: str) -> None:
    (folder / HYDRA_DIR).mkdir(parents=True, exist_ok=True)
    OmegaConf.save(compose_config(*(overrides or JOB)), folder / HYDRA_DIR / "config.yaml")


def test_a_new_job_gets_the_folder_hydra_names(tmp_path):
    assert _folder_of(tmp_path / "sweep", 0) == "0"
    (tmp_path / "sweep" / "3").mkdir(parents=True)  # an empty folder holds no identity
    assert _folder_of(tmp_path / "sweep", 3) == "3"


def test_a_job_goes_back_to_the_folder_that_holds_its_identity_whatever_its_number(tmp_path):
    _record(tmp_path / "7")
    assert _folder_of(tmp_path, 0) == "7"
    _saved_config(tmp_path / "nested" / "2", *OTHER)  # killed before its record: its saved config tells
    assert _folder_of(tmp_path, 0, *OTHER) == "nested/2"


def test_a_folder_with_its_finished_result_wins_over_one_it_failed_in(tmp_path):
    _record(tmp_path / "0", status="failed")
    _record(tmp_path / "1", status="ok")
    _record(tmp_path / "2", status="interrupted")
    assert _folder_of(tmp_path, 5) == "1"
    (tmp_path / "1" / RESULT_FILE).unlink()
    assert _folder_of(tmp_path, 5) == "0"  # none finished: the first that holds it


def test_a_folder_of_another_identity_is_never_taken(tmp_path):
    _record(tmp_path / "0", *OTHER)
    wanted = config_hash(_typed(*JOB))
    assert _folder_of(tmp_path, 0) == f"0-{wanted}"
    _record(tmp_path / f"0-{wanted}", *OTHER)
    assert _folder_of(tmp_path, 0) == f"0-{wanted}-2"
    _saved_config(tmp_path / f"0-{wanted}-2", *OTHER)
    assert _folder_of(tmp_path, 0) == f"0-{wanted}-3"


@pytest.mark.parametrize("damage", [b'{"status": "ok", "config_', b'["a list"]', b"{}"])
def test_a_damaged_record_keeps_its_folder_untouched(tmp_path, damage):
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / RESULT_FILE).write_bytes(damage)
    assert identities(tmp_path) == {tmp_path / "0": DAMAGED}
    assert _folder_of(tmp_path, 0) == f"0-{config_hash(_typed(*JOB))}"
    assert finished_result(_typed(*JOB), tmp_path / "0") is None
    assert settled_result(_typed(*JOB), tmp_path / "0") is None


def test_a_record_without_an_identity_is_damaged_for_resume(tmp_path):
    record = _record(tmp_path / "0")
    write_result(tmp_path / "0", {**record, "config_hash": None})
    assert identities(tmp_path) == {tmp_path / "0": DAMAGED}
    assert _folder_of(tmp_path, 0) != "0"


def test_identities_lists_every_job_folder_with_what_it_holds(tmp_path):
    _record(tmp_path / "0")
    _saved_config(tmp_path / "1", *OTHER)
    (tmp_path / "2" / HYDRA_DIR).mkdir(parents=True)  # Hydra made it; its config is not readable yet
    (tmp_path / "3").mkdir()  # not a job folder
    assert identities(tmp_path) == {tmp_path / "0": config_hash(_typed(*JOB)),
                                    tmp_path / "1": config_hash(_typed(*OTHER)), tmp_path / "2": None}
    assert list(identities(tmp_path)) == sorted(identities(tmp_path))


def test_a_folder_whose_identity_is_unknown_is_taken_by_the_job_hydra_numbered_for_it(tmp_path):
    (tmp_path / "0" / HYDRA_DIR).mkdir(parents=True)
    assert _folder_of(tmp_path, 0) == "0"


def test_an_invalid_job_gets_a_folder_of_its_own_where_it_fails(tmp_path):
    bad = ("model=gru", "model.units=-3", "seed=0")
    as_given = job_identity(compose_config(*bad))  # refused by validation: the hash of the config as given
    assert as_given is not None and as_given != config_hash(_typed(*JOB))
    assert _folder_of(tmp_path, 0, *bad) == "0"
    _record(tmp_path / "0")
    assert _folder_of(tmp_path, 0, *bad) == f"0-{as_given}"
    (tmp_path / f"0-{as_given}" / HYDRA_DIR).mkdir(parents=True)  # Hydra made it; its config is not readable yet
    assert _folder_of(tmp_path, 0, *bad) == f"0-{as_given}"
    _record(tmp_path / f"0-{as_given}", *OTHER)
    assert _folder_of(tmp_path, 0, *bad) == f"0-{as_given}-2"


def test_no_free_folder_is_a_clear_error(tmp_path):
    wanted = config_hash(_typed(*JOB))
    record = _record(tmp_path / "0", *OTHER)
    for name in (f"0-{wanted}", *(f"0-{wanted}-{n}" for n in range(2, 1000))):
        write_result(tmp_path / name, record)
    with pytest.raises(ConfigError) as error:
        _folder_of(tmp_path, 0)
    assert str(error.value) == f"No free job folder for 0 in {tmp_path}: clean up its `0-*` folders."


def test_only_an_ok_record_of_this_very_config_is_skipped(tmp_path):
    typed = _typed(*JOB)
    assert finished_result(typed, tmp_path) is None
    record = _record(tmp_path)
    assert finished_result(typed, tmp_path) == record
    assert finished_result(_typed(*OTHER), tmp_path) is None
    _record(tmp_path, status="failed")
    assert finished_result(typed, tmp_path) is None


@pytest.mark.parametrize(("status", "settled"), [("ok", True), ("failed", True), ("diverged", True),
                                                 ("interrupted", False)])
def test_a_record_left_while_waiting_is_the_jobs_unless_interrupted(tmp_path, status, settled):
    typed = _typed(*JOB)
    assert settled_result(typed, tmp_path) is None
    record = _record(tmp_path, status=status)
    assert settled_result(typed, tmp_path) == (record if settled else None)
    assert settled_result(_typed(*OTHER), tmp_path) is None


def test_a_job_folder_named_by_hand_goes_through_the_resolver():
    resolved = 'hydra.sweep.subdir="${' + RESOLVER + ":'my-job'}\""
    assert through_resolver(["-m", "hydra.sweep.subdir=my-job", "seed=1"]) == ["-m", resolved, "seed=1"]
    assert through_resolver([resolved]) == [resolved]  # once only
    assert through_resolver(["hydra.sweep.subdir=X-ray"]) == ['hydra.sweep.subdir="${' + RESOLVER + ":'X-ray'}\""]
    # what the resolver could not quote, and a number, stay as given (Hydra reports what is wrong with them)
    for arg in ('hydra.sweep.subdir="it\'s"', "hydra.sweep.subdir='say \"hi\"'", "hydra.sweep.subdir=3",
                "hydra.sweep.dir=my-job"):
        assert through_resolver([arg]) == [arg]


def test_the_resolver_is_registered_under_its_name(tmp_path):
    register_resolver()
    cfg = compose_config(*JOB)
    with open_dict(cfg):
        cfg.hydra = {"sweep": {"dir": str(tmp_path)}, "name": "${" + RESOLVER + ":4}"}
    assert cfg.hydra.name == "4"


def test_a_job_whose_config_tells_no_identity_gets_an_invalid_folder_of_its_own(tmp_path):
    """A value that is an interpolation again once resolved (an escaped one) and names nothing: no identity at all."""
    nowhere = {"note": "\\${nowhere}"}
    assert _folder_of(tmp_path, 0, **nowhere) == "0"
    _record(tmp_path / "0")
    assert _folder_of(tmp_path, 0, **nowhere) == "0-invalid"
    _record(tmp_path / "0-invalid", *OTHER)
    assert _folder_of(tmp_path, 0, **nowhere) == "0-invalid-2"


@pytest.mark.parametrize(("root_keys", "job"), [({"hydra": {"job": {"num": 5}}}, 5), ({}, 0)],
                         ids=["hydra's number", "no number: its folder's name"])
def test_a_job_folder_that_cannot_be_made_is_one_line_naming_the_job(tmp_path, root_keys, job):
    (tmp_path / "0").write_text("a file where the job's folder would go")
    with pytest.raises(NoRoomForRecord) as error:
        _folder_of(tmp_path, 0, **root_keys)
    assert str(error.value) == (f"job {job} not run: its folder {tmp_path / '0'} could not be made (File exists), so "
                                "not even its record could be written")


def test_finished_records_are_the_ok_ones_by_identity_wherever_they_lie(tmp_path):
    done = _record(tmp_path / "0")
    other = _record(tmp_path / "deep" / "3", *OTHER)
    _record(tmp_path / "1", "model=gru", "model.units=16", "seed=0", status="failed")
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / RESULT_FILE).write_text("{ not json")  # damaged: not a finished job
    assert finished_records(tmp_path) == {config_hash(_typed(*JOB)): done, config_hash(_typed(*OTHER)): other}
