"""Where the config tree lives, in a source checkout and in an installed package alike."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def conf_dir() -> Path:
    """The `conf/` folder: shipped inside the package when installed, beside it in a checkout."""
    for candidate in (_PACKAGE / "conf", _PACKAGE.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"rnn-sweep's conf/ folder is missing (looked in {_PACKAGE} and its parent)")


def group_options(group: str) -> str:
    """The options of a config group as --help lists them: the YAML files Hydra would accept, so never stale."""
    return ", ".join(sorted(path.stem for path in (conf_dir() / group).glob("*.yaml")))
