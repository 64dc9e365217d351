"""Where a sweep stands: job k of n, time since it started and an estimate of the time left.

Everything is read from the sweep folder (Hydra's multirun.yaml, the jobs' result.json files), so the
answer is the same in a joblib worker or a cluster job as in the process that launched the sweep.
"""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rnn_sweep.results.columns import RESULT_FILE

MULTIRUN_FILE = "multirun.yaml"


def sweep_size(hydra_cfg: DictConfig) -> int | None:
    """How many jobs the sweep launches: Optuna's n_trials, or the size of the grid in multirun.yaml."""
    from rnn_sweep.config.preflight import expand_jobs  # Hydra's override parser: only needed here

    if "n_trials" in hydra_cfg.sweeper:
        return int(hydra_cfg.sweeper.n_trials)
    try:
        cfg = OmegaConf.load(Path(hydra_cfg.sweep.dir) / MULTIRUN_FILE)
        return len(expand_jobs(list(cfg.hydra.overrides.task), True, cfg.hydra))
    except Exception:  # progress is informative only; it must never stop a job
        return None


def progress_line(hydra_cfg: DictConfig, total: int | None) -> str:
    """E.g. `job 4/12 · 1m05s elapsed · about 3m15s left` (the estimate once a job has finished)."""
    sweep_dir = Path(hydra_cfg.sweep.dir)
    position = f"job {hydra_cfg.job.num + 1}/{total or '?'}"
    try:
        started = (sweep_dir / MULTIRUN_FILE).stat().st_mtime
    except OSError:
        return position
    elapsed = time.time() - started
    finished = [path.stat().st_mtime for path in sweep_dir.rglob(RESULT_FILE)]
    this_session = sum(mtime >= started for mtime in finished)
    line = f"{position} · {_duration(elapsed)} elapsed"
    if total and this_session:
        left = elapsed / this_session * max(total - len(finished), 0)
        line += f" · about {_duration(left)} left"
    return line


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
