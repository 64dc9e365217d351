"""New run and sweep folders that no other run can share, even one started in the same second elsewhere.

Folder names stay the readable time stamps of conf/config.yaml (outputs/runs/2026-01-01_10-00-00); when that
folder is already taken, the next free `<stamp>-2`, `<stamp>-3`, ... is used. `mkdir` is the claim: it succeeds
for exactly one process, on one machine or on many sharing a file system, so no two runs ever write one folder.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from rnn_sweep.errors import ConfigError


def claim_new_folder(base: Path, avoid: Path | None = None) -> Path:
    """Create and return `base`, or the first of `base-2`, `base-3`, ... that no one has created yet."""
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
        candidates = (base if n == 1 else base.with_name(f"{base.name}-{n}") for n in itertools.count(1))
        for candidate in candidates:
            if avoid is not None and candidate.resolve() == avoid.resolve():
                continue
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as error:
        raise ConfigError(
            f"Cannot create the output folder {base} ({error.strerror}). Run from a folder you can write to, or "
            "choose another place with hydra.run.dir=... (hydra.sweep.dir=... with -m)."
        ) from None
    return base  # never reached: the candidates never run out


def override_value(path: Path) -> str:
    """A path as a Hydra override value: quoted where it holds characters the override grammar treats specially."""
    text = str(path)
    if all(char.isalnum() or char in "/._-:" for char in text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
