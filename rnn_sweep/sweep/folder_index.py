"""Which job folder below a sweep folder holds which identity, read once per process and kept up to date.

The `rnn_sweep.job_dir` resolver asks this for every job of a sweep. Rescanning the whole sweep folder each time
would read every result.json once per job, quadratic in the jobs; this index reads a job folder when it first
appears in its parent's listing. A folder's listing is read again only when its stamp (inode, modification and
change times) changed: a folder was made or removed in it. A job folder is read again while it tells nothing (no
record nor saved config yet), when a lookup checks it, and when its parent's listing is read again and its own stamp
changed or could not tell a change yet: a folder removed and made again under the same name is never taken for the
old one, even on the same inode. So a result another job or process writes meanwhile is found, and a refresh after
a change stats each job folder once but reads only the few whose stamp moved.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path

from rnn_sweep.record.columns import HYDRA_DIR, RESULT_FILE
from rnn_sweep.record.identity import identity_of, saved_config_identity
from rnn_sweep.record.result_files import ResultFileError, read_result

DAMAGED = "damaged"  # the identity of a folder whose result.json cannot be read: never anyone's to write into
# A folder whose modification or change time is this recent is listed again at the next refresh: file times
# advance in clock ticks (a few ms, up to 2 s on some file systems), so a change within the same tick as the last
# listing would not show.
_TRUSTED_AFTER_NS = 2_000_000_000
Stamp = tuple[int, int, int]  # a folder's (inode, mtime_ns, ctime_ns)
_UNTRUSTED: Stamp = (-1, -1, -1)  # never equal to a folder's stamp


class FolderIndex:
    """The job folders below `sweep` (those with a result.json or Hydra's `.hydra/`), each with its identity."""

    def __init__(self, sweep: Path, clock: Callable[[], int] = time.time_ns) -> None:
        """`clock` gives the time now in ns, which tells whether a listing is old enough to trust (a test sets it)."""
        self.sweep = sweep
        self._clock = clock
        self._held: dict[Path, str | None] = {}  # job folder -> the identity it holds (None: nothing tells yet)
        self._read: dict[Path, Stamp] = {}  # job folder -> its stamp when last read
        self._listed: dict[Path, tuple[Stamp, dict[str, Stamp]]] = {}  # other folder -> (stamp, {entry: stamp})

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

    def _visit(self, folder: Path, clock: int = 0) -> None:
        """Update what is known below `folder`, a folder that was not a job folder when last seen (or is new).
        `clock` is a change time the file system had reached before this visit (the parent's), 0 for none."""
        stamp = _stamp(folder)
        if stamp is None:
            self._forget(folder)
            return
        known = self._listed.get(folder)
        before: dict[str, Stamp] = {}  # the last listing, when this one is new
        if known is None or known[0] != stamp:
            if folder != self.sweep and _is_job_folder(folder):
                self._forget(folder)
                # taken before reading: a change while reading shows next time. A change time older than `clock`
                # tells any later change, the folder made again included (it gets a later one); a later change time
                # may share its clock tick with one to come, so such a folder is read again at its parent's next change
                self._read[folder] = stamp if stamp[2] < clock else _UNTRUSTED
                self._held[folder] = _look(folder)[0]
                return
            before, entries = (known[1] if known else {}), _subfolders(folder)
            for name in before.keys() - entries.keys():
                self._forget(folder / name)
            self._listed[folder] = (_trusted(stamp, self._clock()), entries)
        for name, now in self._listed[folder][1].items():
            child = folder / name
            if name in before and (now[0] != before[name][0] or self._read.get(child, now) != now):
                self._forget(child)  # made again: on another inode, or (a job folder) with another stamp on the same
            if child not in self._held:
                self._visit(child, stamp[2])
            elif self._held[child] is None:  # Hydra may not have saved its config yet when it was first read
                self._held[child] = _look(child)[0]

    def _forget(self, folder: Path) -> None:
        """Drop `folder` and everything known below it."""
        self._held.pop(folder, None)
        self._read.pop(folder, None)
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


def _stamp(folder: Path) -> Stamp | None:
    """What changes when `folder` changes or is made again, even on the same inode; None if it is gone."""
    try:
        return _stamp_of(folder.stat())
    except OSError:
        return None


def _stamp_of(info: os.stat_result) -> Stamp:
    return info.st_ino, info.st_mtime_ns, info.st_ctime_ns


def _trusted(stamp: Stamp, now: int) -> Stamp:
    """A listed folder's `stamp`, or _UNTRUSTED while it is too recent at `now` to tell a later change in its tick."""
    return _UNTRUSTED if now - max(stamp[1:]) < _TRUSTED_AFTER_NS else stamp


def _is_job_folder(folder: Path) -> bool:
    return (folder / RESULT_FILE).exists() or (folder / HYDRA_DIR).is_dir()


def _subfolders(folder: Path) -> dict[str, Stamp]:
    """The folders in `folder`, by name, with their stamps (one stat each, no path to build); one removed meanwhile
    is left out."""
    found = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name != HYDRA_DIR and entry.is_dir(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        found[entry.name] = _stamp_of(entry.stat(follow_symlinks=False))
    except OSError:
        return {}
    return found


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
