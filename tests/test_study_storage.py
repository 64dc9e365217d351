"""A search's study storage: a damaged or lost study file stops the command with a clear error before any job."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import run_probe

optuna = pytest.importorskip("optuna")

SEARCH = ("-m", "+hparams_search=val_accuracy", "model.units=choice(4,8)", "hydra.sweeper.n_trials=2")
STUDY = "rnn_val_accuracy"  # the study name of +hparams_search=val_accuracy


def _truncated_sqlite_study(path: Path) -> None:
    """A real Optuna study in sqlite with five trials, cut to its first 40 KB as a full disk or a bad copy would."""
    whole = path.with_name("whole.db")
    study = optuna.create_study(study_name=STUDY, storage=f"sqlite:///{whole}")
    for value in range(5):
        study.add_trial(optuna.trial.create_trial(value=value / 10, params={"x": value},
                                                  distributions={"x": optuna.distributions.IntDistribution(0, 9)}))
    path.write_bytes(whole.read_bytes()[:40_000])
    whole.unlink()


DAMAGE = {
    "garbage sqlite": ("optuna.db", lambda path: path.write_bytes(b"no database\n" * 9), "is not an SQLite database"),
    "zero-byte sqlite": ("optuna.db", lambda path: path.write_bytes(b""), "is empty (0 bytes)"),
    "truncated sqlite": ("optuna.db", _truncated_sqlite_study, "is damaged"),
    "garbage journal": ("optuna.journal", lambda path: path.write_bytes(b"\x00\xff garbage\n"), "is damaged"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_study_file_is_a_clear_error_before_any_job(tmp_path, monkeypatch, mnist_path, case):
    name, damage, what = DAMAGE[case]
    monkeypatch.setenv("RNN_SWEEP_DATA", mnist_path)
    sweep_dir = tmp_path / "search"
    (sweep_dir / "0" / ".hydra").mkdir(parents=True)  # a job folder the study trained before it was damaged
    damage(sweep_dir / name)
    before = (sweep_dir / name).read_bytes()

    result = run_probe(*SEARCH, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)

    assert result.returncode == 2, result.stderr[-3000:]
    assert "TENSORFLOW-NOT-IMPORTED" in result.stdout and "Traceback" not in result.stderr
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1, error
    assert f"{sweep_dir / name} {what}" in error and f"mv {sweep_dir / name}" in error and "Restore" in error
    assert (sweep_dir / name).read_bytes() == before  # left as it was, to be restored or moved aside
    assert sorted(path.name for path in sweep_dir.iterdir()) == ["0", name]  # no job, no other study file


@pytest.mark.slow
def test_job_folders_without_their_study_are_an_error_not_a_new_study(tmp_path, monkeypatch, mnist_path):
    """An emptied journal (or none) beside job folders would start a study that trains them again from 0."""
    monkeypatch.setenv("RNN_SWEEP_DATA", mnist_path)
    sweep_dir = tmp_path / "search"
    (sweep_dir / "0" / ".hydra").mkdir(parents=True)
    (sweep_dir / "1").mkdir()
    (sweep_dir / "1" / "result.json").write_text("{}")
    for emptied in (False, True):
        if emptied:
            (sweep_dir / "optuna.journal").write_bytes(b"")
        result = run_probe(*SEARCH, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
        error = result.stderr.strip()
        assert len(error.splitlines()) == 1 and "holds job folders (0, 1)" in error and "has no trials" in error
        assert str(sweep_dir / "optuna.journal") in error and "TENSORFLOW-NOT-IMPORTED" in result.stdout


@pytest.mark.slow
def test_an_unreachable_database_is_a_clear_error(tmp_path, monkeypatch, mnist_path):
    monkeypatch.setenv("RNN_SWEEP_DATA", mnist_path)
    url = "postgresql://nobody@127.0.0.1:1/none"  # port 1: nothing listens there
    result = run_probe(*SEARCH, f"hydra.sweeper.storage={url}", f"hydra.sweep.dir={tmp_path / 'search'}",
                       cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1 and f"hydra.sweeper.storage={url}" in error and "refused" in error
    assert not (tmp_path / "search").exists()
