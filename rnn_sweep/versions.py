"""`rnn-sweep --version`: the versions a bug report needs, read from package metadata (importing TensorFlow would
take seconds and print its start-up logs)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# Each library as a name shown and the distributions that may provide it (TensorFlow ships under several names).
_LIBRARIES = (
    ("TensorFlow", ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly")),
    ("Keras", ("keras",)),
    ("Hydra", ("hydra-core",)),
    ("Optuna", ("optuna",)),
)


def installed_version(distributions: tuple[str, ...]) -> str:
    for name in distributions:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "not installed"


def version_text() -> str:
    """One line per package, rnn-sweep first."""
    lines = [f"rnn-sweep {installed_version(('rnn-sweep',))}"]
    lines += [f"{shown} {installed_version(distributions)}" for shown, distributions in _LIBRARIES]
    return "\n".join(lines)
