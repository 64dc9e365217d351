"""Which job folder below a sweep folder holds which identity, read once per process and kept up to date.

The `rnn_sweep.job_dir` resolver asks this for every job of a sweep. Rescanning the whole sweep folder each time
would read every result.json once per job, quadratic in the jobs; this index reads a job folder when it first
appears in its parent's listing. A folder's listing is read again only when the folder's modification time
changed (a job folder was made or removed in it), and a job folder again only while it tells nothing (no record
nor saved config yet) or when a lookup checks it; so a result another job or process writes meanwhile is found.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

from rnn_sweep.record.columns import HYDRA_DIR, RESULT_FILE
from rnn_sweep.record.identity import identity_of, saved_config_identity
from rnn_sweep.record.result_files import ResultFileError, read_result

DAMAGED = "damaged"  # the identity of a folder whose result.json cannot be read: never anyone's to write into
# A folder whose modification time is this recent is listed again at the next refresh: file times advance in
# clock ticks (a few ms), so a folder made within the same tick as the last listing would not change it.
_TRUSTED_AFTER_NS = 2_000_000_000
_UNTRUSTED = -1


class FolderIndex:
    """The job folders below `sweep` (those with a result.json or Hydra's `.hydra/`), each with its identity."""

    def __init__(self, sweep: Path) -> None:
        self.sweep = sweep
        self._held: dict[Path, str | None] = {}  # job folder -> the identity it holds (None: nothing tells yet)
        self._listed: dict[Path, tuple[int, dict[str, int]]] = {}  # other folder -> (mtime, {entry name: inode})

    def holder(self, folder: Path) -> str | None:
        """The identity `folder` holds as of the last refresh (None: not a job folder, or nothing tells)."""
        return self._held.get(folder)

    def job_folders(self) -> list[Path]:
        """Every job folder known as of the last refresh, in order."""
        return sorted(self._held)

    def own_folder(self, wanted: str) -> Path | None:
        """The folder holding `wanted`: the one with its finished result if any, else the first. The index is
        refreshed first unless it already knows a folder where `wanted` is finished (checked on disk now)."""
        found = self._check(wanted)
        if not any(finished for _, finished in found):
            self.refresh()
            found = self._check(wanted)
        ranked = sorted(found, key=lambda item: (not item[1], item[0]))
        return ranked[0][0] if ranked else None

    def refresh(self) -> None:
        """Bring the index up to date with the disk: new job folders read, removed ones forgotten."""
        self._visit(self.sweep)

    def _check(self, wanted: str) -> list[tuple[Path, bool]]:
        """The known folders of `wanted`, each read again now: (folder, whether its result is finished)."""
        found = []
        for folder in sorted(folder for folder, identity in self._held.items() if identity == wanted):
            identity, finished = _look(folder)
            self._held[folder] = identity
            if identity == wanted:
                found.append((folder, finished))
        return found

    def _visit(self, folder: Path) -> None:
        """Update what is known below `folder`, a folder that was not a job folder when last seen (or is new)."""
        try:
            stamp = folder.stat().st_mtime_ns
        except OSError:
            self._forget(folder)
            return
        known = self._listed.get(folder)
        if known is None or known[0] != stamp:
            if folder != self.sweep and _is_job_folder(folder):
                self._forget(folder)
                self._held[folder] = _look(folder)[0]
                return
            entries = _subfolders(folder)
            for name, inode in (known[1] if known else {}).items():
                if entries.get(name) != inode:  # removed, or removed and made again
                    self._forget(folder / name)
            recent = time.time_ns() - stamp < _TRUSTED_AFTER_NS
            self._listed[folder] = (_UNTRUSTED if recent else stamp, entries)
        for name in self._listed[folder][1]:
            child = folder / name
            if child not in self._held:
                self._visit(child)
            elif self._held[child] is None:  # Hydra may not have saved its config yet when it was first read
                self._held[child] = _look(child)[0]

    def _forget(self, folder: Path) -> None:
        """Drop `folder` and everything known below it."""
        self._held.pop(folder, None)
        listed = self._listed.pop(folder, None)
        for name in listed[1] if listed else ():
            self._forget(folder / name)


def folder_index(sweep: Path) -> FolderIndex:
    """The index of the sweep folder `sweep`, one per process (Hydra resolves each job's folder in the process that
    launches it) and per folder, however the folder is written: its job folders are absolute paths."""
    return _index_of(Path(os.path.abspath(sweep)))


@functools.cache
def _index_of(sweep: Path) -> FolderIndex:
    return FolderIndex(sweep)


def _is_job_folder(folder: Path) -> bool:
    return (folder / RESULT_FILE).exists() or (folder / HYDRA_DIR).is_dir()


def _subfolders(folder: Path) -> dict[str, int]:
    """The folders in `folder`, by name, with their inode numbers (from the listing itself: no stat each)."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name: entry.inode() for entry in entries
                    if entry.name != HYDRA_DIR and entry.is_dir(follow_symlinks=False)}
    except OSError:
        return {}


def _look(folder: Path) -> tuple[str | None, bool]:
    """The identity a job folder holds (its record's, else that of the config Hydra saved there; DAMAGED for an
    unreadable result.json, None when nothing tells) and whether its result is `ok`."""
    try:
        record = read_result(folder)
    except ResultFileError:
        return DAMAGED, False
    if record is not None:
        return identity_of(record) or DAMAGED, record.get("status") == "ok"
    return saved_config_identity(folder), False
