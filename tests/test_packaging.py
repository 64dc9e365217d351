"""The wheel must carry every subpackage and the conf/ tree, or the installed command breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")
ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_and_the_conf_tree_are_packaged():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    subpackages = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("rnn_sweep", "hydra_plugins")  # hydra_plugins: where Hydra looks for our SLURM launcher
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert subpackages | {"rnn_sweep.conf"} == set(setuptools["packages"])
    assert not (ROOT / "hydra_plugins" / "__init__.py").exists()  # a namespace package, shared with other plugins
    assert setuptools["package-dir"]["rnn_sweep.conf"] == "conf"
    assert (ROOT / "conf" / "config.yaml").is_file()


def test_the_page_templates_are_packaged():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    templates = sorted((ROOT / "rnn_sweep" / "report" / "templates").glob("*.j2"))
    assert templates and setuptools["package-data"]["rnn_sweep.report"] == ["templates/*.j2"]
