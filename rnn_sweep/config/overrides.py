"""The command line's overrides (`key=value`, `+key=value`, `~key`) read back from the forms a run keeps them in:
result.json's list, results.csv's JSON list, older records' space-joined string."""

from __future__ import annotations

import json
from collections.abc import Iterable


def parse_overrides(overrides: object) -> dict[str, str]:
    """Overrides back as {key: value}, as typed (`+`/`~` prefixes dropped); empty for a missing value.

    result.json keeps them as a list; results.csv as that list in JSON; older records as one space-joined string.
    """
    if isinstance(overrides, str):
        overrides = _listed(overrides)
    if not isinstance(overrides, Iterable):
        return {}
    pairs = (str(item).partition("=") for item in overrides)
    return {key.lstrip("+~"): value for key, sep, value in pairs if sep}


def task_overrides(overrides: Iterable[str]) -> list[str]:
    """The overrides a job's config gets: Hydra's own settings (`hydra.*`, `hydra/...`) left out, as Hydra keeps them
    apart from the task's."""
    return [override for override in overrides if not override.lstrip("+~").startswith("hydra")]


def overrides_text(overrides: object) -> str:
    """Overrides as one would type them, for tables and messages."""
    if isinstance(overrides, str):
        overrides = _listed(overrides)
    return " ".join(map(str, overrides)) if isinstance(overrides, Iterable) else ""


def overrides_as_json(overrides: object) -> str:
    """Overrides as a JSON list, the form results.csv keeps them in (a value may hold spaces)."""
    if isinstance(overrides, str):
        overrides = _listed(overrides)
    return json.dumps(list(map(str, overrides)) if isinstance(overrides, Iterable) else [])


def _listed(text: str) -> list[str]:
    if text.startswith("["):
        try:
            return [str(item) for item in json.loads(text)]
        except (json.JSONDecodeError, TypeError):
            pass
    return text.split()
