"""Where a search's study lives, and the one way to open it: checked first, so damage is an error, not a new study.

A new sweep folder keeps its study in `optuna.journal`, Optuna's JournalStorage on a plain file: it appends one
line per change under a lock that holds on NFS, so workers on several nodes can share the folder's study (sqlite's
locks do not hold there). A folder that already holds an `optuna.db` (sqlite, as older versions wrote) keeps
resuming from it; `hydra.sweeper.storage=<database URL>` puts the study in a database server instead.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from rnn_sweep.errors import UserError

if TYPE_CHECKING:
    import optuna

JOURNAL_FILE = "optuna.journal"
SQLITE_FILE = "optuna.db"
_SQLITE_HEADER = b"SQLite format 3\x00"
_SCHEMA_ATTEMPTS = 3  # opening a new database creates Optuna's tables; a worker that loses that race opens again


class StudyStorageError(UserError):
    """The study's file is damaged or its database cannot be reached: resuming would start a wrong study."""


def open_storage(url: str | None, sweep_dir: Path) -> optuna.storages.BaseStorage:
    """The study storage of a search in `sweep_dir`, or at the database `url` (`hydra.sweeper.storage`) when one is
    given; every caller opens it through here."""
    import optuna

    if url:
        return _database(str(url))
    sqlite_file = Path(sweep_dir) / SQLITE_FILE
    if sqlite_file.exists():
        _check_sqlite(sqlite_file)
        return _database(f"sqlite:///{sqlite_file.resolve()}", sqlite_file)
    journal_file = Path(sweep_dir) / JOURNAL_FILE
    _check_journal(journal_file)
    backend = optuna.storages.journal.JournalFileBackend(str(journal_file))
    return optuna.storages.JournalStorage(backend)


def check_study(sweeper: DictConfig, sweep_dir: Path, name: str) -> None:
    """Before anything runs: the study `name` in `sweep_dir` (or at the URL) can be opened, and it is the one that
    trained the folder's job folders. A study with no trials beside job folders would train them again from 0 (an
    emptied or lost study file): refused, as a damaged file is.

    Job folders are listed before the study is read: a parallel worker asks a trial before it makes its folder, so
    every folder listed has its trial in the study by then.
    """
    sweep_dir = Path(sweep_dir)
    job_folders = sorted(path.name for path in sweep_dir.glob("[0-9]*") if (path / ".hydra").is_dir()
                         or (path / "result.json").is_file()) if sweep_dir.is_dir() else []
    trials = []
    if sweeper.storage or (sweep_dir / SQLITE_FILE).exists() or (sweep_dir / JOURNAL_FILE).exists():
        storage = open_storage(sweeper.storage, sweep_dir)
        with suppress(KeyError):  # no such study yet
            trials = storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False)
    if job_folders and not trials:
        place = study_place(sweeper, sweep_dir)
        raise StudyStorageError(
            f"The sweep folder {sweep_dir} holds job folders ({', '.join(job_folders[:5])}"
            f"{', ...' if len(job_folders) > 5 else ''}) but its study {name!r} in {place} has no "
            "trials: the study file was emptied, replaced or lost, and a new study would train those folders again. "
            "Restore the study file from a backup, or choose another folder with hydra.sweep.dir=... (or another "
            "hydra.sweeper.study_name if the folder holds other studies)."
        )


def study_place(sweeper: DictConfig, sweep_dir: Path) -> str:
    """The file or database URL that holds the study, for messages."""
    if sweeper.storage:
        return str(sweeper.storage)
    sqlite_file = Path(sweep_dir) / SQLITE_FILE
    return str(sqlite_file if sqlite_file.exists() else Path(sweep_dir) / JOURNAL_FILE)


def damaged(path: Path, what: str) -> StudyStorageError:
    return StudyStorageError(
        f"The search's study file {path} {what}, so the search cannot resume from it. Restore the file from a "
        f"backup, or move it aside (mv {path} {path}.damaged) to start a new study in this sweep folder: its job "
        "folders would then be trained again from 0, so move them aside too, or choose another folder with "
        "hydra.sweep.dir=..."
    )


def _database(url: str, path: Path | None = None) -> optuna.storages.BaseStorage:
    """An RDB storage; sqlite waits for a parallel job's write instead of failing with `database is locked`."""
    import optuna
    import sqlalchemy.exc

    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        for attempt in range(_SCHEMA_ATTEMPTS):
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=engine)
            except sqlalchemy.exc.IntegrityError:  # another worker created Optuna's tables at the same moment
                if attempt == _SCHEMA_ATTEMPTS - 1:
                    raise
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as error:
        if path is not None:
            raise damaged(path, "cannot be read as an Optuna study") from None
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")
        raise StudyStorageError(
            f"Cannot open the study storage hydra.sweeper.storage={url}: {reason}. Check that the database server "
            "is running and the URL (user, password, host, port, database name) is right, and that its driver is "
            "installed (pip install 'rnn-sweep[optuna]' brings the PostgreSQL one)."
        ) from None


def _check_sqlite(path: Path) -> None:
    """Refuse an empty, foreign or damaged sqlite file before SQLAlchemy would fail on it, or start anew in it."""
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise damaged(path, f"cannot be read ({error.strerror})") from None
    if not header:
        raise damaged(path, "is empty (0 bytes)")
    if header != _SQLITE_HEADER:
        raise damaged(path, "is not an SQLite database")
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as error:
        raise damaged(path, f"is damaged ({error})") from None
    if verdict != ("ok",):
        raise damaged(path, f"is damaged ({verdict[0] if verdict else 'no integrity verdict'})")


def _check_journal(path: Path) -> None:
    """Refuse a journal whose lines are not Optuna's: Optuna would skip a damaged last line and start a new study.

    Only whole lines are checked: a line without its newline may be another worker's write under way.
    """
    try:
        lines = path.read_bytes().split(b"\n")[:-1]
    except FileNotFoundError:
        return
    except OSError as error:
        raise damaged(path, f"cannot be read ({error.strerror})") from None
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or "op_code" not in entry:
            raise damaged(path, f"is damaged (line {number} is not an Optuna journal entry)")
