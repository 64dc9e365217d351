"""Train a run again from its saved config and judge whether the new metrics match the old ones.

The training itself runs as `python -m rnn_sweep --config-path RUN/.hydra --config-name config` in a fresh
process, so it takes exactly the path the original run took and leaves a normal run folder; this module only
chooses that folder and compares the two result.json records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rnn_sweep.config.paths import conf_dir
from rnn_sweep.config.validate import validate
from rnn_sweep.errors import UserError
from rnn_sweep.record.result_files import read_result

SAVED_CONFIG = Path(".hydra") / "config.yaml"
# Where a run is not bit-reproducible (GPU kernels, train.deterministic=false), this much change is accepted.
DEFAULT_TOLERANCE = 0.01
GATED = ("test_accuracy", "test_loss")
SHOWN = ("test_accuracy", "test_loss", "best_val_accuracy", "epoch_seconds")


@dataclass(frozen=True)
class Verdict:
    tolerance: float
    exact_expected: bool
    problems: list[str]


def original_record(run_dir: Path) -> dict[str, Any]:
    """The finished run's record; refuse folders that have no saved config or no metrics to compare with."""
    if not (run_dir / SAVED_CONFIG).is_file():
        raise UserError(
            f"{run_dir} has no {SAVED_CONFIG}, so it is not an rnn-sweep run folder. Give a folder such as "
            "outputs/runs/<stamp> or outputs/sweeps/<stamp>/<job>."
        )
    record = read_result(run_dir)
    if record is None or record.get("status") != "ok":
        status = "no result.json" if record is None else f"status {record.get('status')!r}"
        raise UserError(
            f"{run_dir} has {status}, so there are no metrics to reproduce. To train its config again anyway: "
            f"rnn-sweep --config-path {run_dir / SAVED_CONFIG.parent} --config-name config"
        )
    return record


def new_run_dir_name() -> Path:
    """Where a new single run goes (conf/config.yaml's hydra.run.dir, stamped now); claimed with
    rnn_sweep.sweep.folders.claim_new_folder, which adds -2, -3, ... when another run has it."""
    from hydra.core.utils import setup_globals  # registers the ${now:...} resolver

    setup_globals()
    pattern = OmegaConf.load(conf_dir() / "config.yaml").hydra.run.dir
    return Path(OmegaConf.create({"dir": pattern}).dir).resolve()


def judge(run_dir: Path, new_dir: Path, original: dict[str, Any], again: dict[str, Any],
          tolerance: float | None) -> Verdict:
    """Bit-identical is demanded where it is promised (deterministic ops on a CPU, both times); else `tolerance`."""
    configs = [validate(OmegaConf.load(folder / SAVED_CONFIG)) for folder in (run_dir, new_dir)]
    exact = all(cfg.train.deterministic for cfg in configs) and all(
        str(record.get("device", "")).startswith("CPU") for record in (original, again)
    )
    limit = tolerance if tolerance is not None else (0.0 if exact else DEFAULT_TOLERANCE)
    if again.get("status") != "ok":
        return Verdict(limit, exact, [f"the new run ended with status {again.get('status')}: {again.get('error')}"])
    problems = []
    for metric in GATED:
        before, after = float(original[metric]), float(again[metric])
        allowed = limit if metric == "test_accuracy" else limit * abs(before)
        if abs(after - before) > allowed:
            problems.append(f"{metric} changed by {after - before:+.6g} ({before:.6g} -> {after:.6g}), "
                            f"more than the {allowed:.6g} allowed")
    return Verdict(limit, exact, problems)
