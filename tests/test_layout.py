"""The architecture on disk: packages in layers that follow a run, only train/ imports TensorFlow, no import cycles.

Read with `ast`, never imported, so function-level (lazy) imports count like the ones at the top of a file.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

import rnn_sweep

PACKAGE = Path(rnn_sweep.__file__).parent
# The flow of a run, from the bottom up: each unit (a subpackage, or a module at the top of rnn_sweep/) imports only
# units in the layers below its own. Units that share a layer import neither each other. docs/architecture.md says
# what each holds.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "atomic", "console", "stopping", "versions"),  # no rnn_sweep imports at all
    ("config",),  # schema, cells, validation, seeds, paths
    ("stats",),  # intervals and tests, used by the record's fold, the report and compare
    ("record",),  # the run record: its columns, result files, identity, the seed fold
    ("data",),
    ("train",),  # the only unit that imports TensorFlow
    ("compare",),  # pairing, verdicts, gate, reproduction check
    ("report",),  # a sweep's tables and their renderings; renders compare's verdicts too
    ("sweep",),  # the multirun callback, resume, claims, progress, launcher traits
    ("search", "cluster"),  # the Optuna study; SLURM (reads the launcher traits in sweep)
    ("launch",),  # preflight and the Hydra task that trains one job
    ("commands",),
    ("cli",),
    ("__main__",),
)
TENSORFLOW = ("tensorflow", "keras")
TENSORFLOW_UNITS = ("train",)
LAYER = {unit: level for level, units in enumerate(LAYERS) for unit in units}
# Outside rnn_sweep/ only the launchers we extend may be reached: submitit's (the cluster) and joblib's (the sweep's
# jobs side by side).
PLUGINS_ALLOWED = {"cluster": ("hydra_plugins.hydra_submitit_launcher",),
                   "sweep": ("hydra_plugins.hydra_joblib_launcher",)}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports (`from a import b` counts as a.b when a.b is a module of ours), lazy ones too."""
    found = []
    package = _module_name(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + (path.stem == "__init__")]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if _is_ours(f"{base}.{alias.name}")]
    return found


def _is_ours(module: str) -> bool:
    relative = Path(*module.split("."))
    return (PACKAGE.parent / relative.with_suffix(".py")).is_file() or (PACKAGE.parent / relative).is_dir()


def _files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_unit_of_the_package_has_a_layer():
    units = {_unit(_module_name(path)) for path in _files()}
    assert units <= set(LAYER), f"declare these in LAYERS: {sorted(units - set(LAYER))}"
    assert not set(LAYER) - units, f"LAYERS names units that do not exist: {sorted(set(LAYER) - units)}"


def climbing_imports(files: list[Path]) -> list[str]:
    """Each import of a unit in the same layer or above, of TensorFlow outside train/, of a Hydra plugin."""
    wrong = []
    for path in files:
        unit = _unit(_module_name(path))
        for line, module in _imports(path):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
            if module.split(".")[0] in TENSORFLOW and unit not in TENSORFLOW_UNITS:
                wrong.append(f"{where} (TensorFlow belongs in {'/'.join(TENSORFLOW_UNITS)}/)")
            elif module.startswith("hydra_plugins") and not module.startswith(PLUGINS_ALLOWED.get(unit, ("-",))):
                wrong.append(f"{where} (the core never imports a Hydra plugin: the plugin calls the core)")
            elif module.startswith("rnn_sweep") and _unit(module) != unit and LAYER[_unit(module)] >= LAYER[unit]:
                wrong.append(f"{where} ({_unit(module)} is not below {unit})")
    return wrong


def test_each_unit_imports_only_the_layers_below_it():
    wrong = climbing_imports(_files())
    assert not wrong, "imports that climb the layers:\n" + "\n".join(wrong)


def test_the_check_catches_an_import_that_climbs(tmp_path):
    climber = PACKAGE / "record" / "_climber_probe.py"
    climber.write_text("def late():\n    from rnn_sweep.report import tables\n")
    try:
        wrong = climbing_imports([climber])
    finally:
        climber.unlink()
    assert wrong == ["rnn_sweep/record/_climber_probe.py:2 imports rnn_sweep.report (report is not below record)",
                     "rnn_sweep/record/_climber_probe.py:2 imports rnn_sweep.report.tables "
                     "(report is not below record)"]


def test_no_import_cycles_between_files():
    graph = {_module_name(path): {m for _, m in _imports(path) if _is_ours(m)} for path in _files()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for child in sorted(graph.get(module, ())):
            if child == module or child == module.rsplit(".", 1)[0]:
                continue  # a package's own __init__ (e.g. `from rnn_sweep import __version__`) is not a cycle
            if state.get(child) == 1:
                cycles.append([*trail[trail.index(child):], child] if child in trail else [module, child])
            elif child not in state:
                visit(child, [*trail, child])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


TENSORFLOW_FREE = tuple(unit for units in LAYERS for unit in units if unit not in TENSORFLOW_UNITS
                        and (PACKAGE / unit).is_dir())


@functools.cache
def _loaded_by_each_folder() -> dict[str, str]:
    """What importing each TensorFlow-free folder loads of TensorFlow and Keras (`` for nothing): the folders are
    imported in one interpreter, in order, and in a fresh one again after any folder that loads them."""
    found: dict[str, str] = {}
    left = list(TENSORFLOW_FREE)
    while left:
        probe = "import importlib, sys\n" + "".join(
            "".join(f"importlib.import_module({name!r})\n" for name in _modules_of(folder))
            + f"print({folder!r}, ','.join(n for n in ('tensorflow', 'keras') if n in sys.modules), flush=True)\n"
            + "if 'tensorflow' in sys.modules or 'keras' in sys.modules: sys.exit()\n"
            for folder in left)
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                                check=False)
        assert result.returncode == 0, result.stderr
        for line in result.stdout.splitlines():
            folder, _, loaded = line.partition(" ")
            found[folder] = loaded
        left = left[len(result.stdout.splitlines()):]
    return found


def _modules_of(folder: str) -> list[str]:
    return sorted(_module_name(path) for path in (PACKAGE / folder).glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("folder", TENSORFLOW_FREE)
def test_importing_a_folder_outside_train_loads_no_tensorflow(folder):
    loaded = _loaded_by_each_folder()[folder]
    assert loaded == "", f"importing rnn_sweep.{folder} loaded {loaded}"


@pytest.mark.slow
def test_the_command_line_entry_loads_no_tensorflow():
    result = subprocess.run([sys.executable, "-c", "import sys, rnn_sweep.cli, rnn_sweep.launch.job; "
                             "print('tensorflow' in sys.modules)"], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_no_two_modules_share_a_name():
    names = [path.stem for path in PACKAGE.rglob("*.py") if path.stem not in ("__init__", "__main__")]
    twins = sorted({name for name in names if names.count(name) > 1})
    assert not twins, f"modules with the same name in different folders: {twins}"
