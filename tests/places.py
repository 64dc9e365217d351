"""Places that refuse writes even to root (CI runs as root): an immutable folder, a read-only or a tiny file system.

Each is undone in a `finally`, so pytest can remove its temporary folders whatever the test did.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = os.geteuid() == 0


@contextmanager
def immutable(folder: Path) -> Iterator[Path]:
    """`folder` made so that nothing can be created, renamed or removed in it: `chattr +i` as root (binds root too),
    mode 0o500 for anyone else."""
    if ROOT:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    else:
        folder.chmod(0o500)
    try:
        yield folder
    finally:
        if ROOT:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o700)


@contextmanager
def tmpfs(folder: Path, size: str = "1m", read_only: bool = False) -> Iterator[Path]:
    """A fresh tmpfs of `size` mounted on `folder` (made empty), read-only if asked; unmounted afterwards. Root only."""
    if not ROOT:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs as root so that tests can mount a tmpfs")
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "rnn-sweep-test", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def remount(folder: Path, read_only: bool, size: str | None = None, inodes: int | None = None) -> None:
    """Turn the tmpfs on `folder` read-only (or back to read-write), or resize it or cap its inodes, keeping what it
    holds."""
    options = f"remount,{'ro' if read_only else 'rw'}" + (f",size={size}" if size else "") + \
        (f",nr_inodes={inodes}" if inodes is not None else "")
    subprocess.run(["mount", "-o", options, str(folder)], check=True)


def inodes_only(mount: Path, extra: int | None) -> None:
    """Cap the tmpfs on `mount` at the files and folders it holds plus `extra` (None: lift the cap), so that making
    one more fails as a full disk does (ENOSPC) while files already there can still be written."""
    stats = os.statvfs(mount)
    remount(mount, read_only=False, inodes=1_000_000 if extra is None else stats.f_files - stats.f_ffree + extra)


def fill_up(mount: Path, leave_pages: int = 0) -> Path:
    """Fill the tmpfs on `mount` with one file until no page is free, then give back `leave_pages` of them (a tmpfs
    counts whole pages, so exactly that much room is left). The file, to delete when room is to be made."""
    filler, page = mount / "filler", os.statvfs(mount).f_bsize
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * page)
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave_pages * page))
    assert os.statvfs(mount).f_bavail == leave_pages
    return filler
