"""Where a sweep stands: job k of n, time since it started and an estimate of the time left.

Everything is read from the sweep folder (Hydra's multirun.yaml, the jobs' result.json files), so the
answer is the same in a joblib worker or a cluster job as in the process that launched the sweep.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rnn_sweep.results.columns import MULTIRUN_FILE, RESULT_FILE


def sweep_size(hydra_cfg: DictConfig) -> int | None:
    """How many jobs the sweep launches: Optuna's n_trials, the size of the grid in multirun.yaml, or for a race the
    most it may launch (max_seeds per setting)."""
    from rnn_sweep.config.preflight import expand_jobs  # Hydra's override parser: only needed here

    if "n_trials" in hydra_cfg.sweeper:
        return int(hydra_cfg.sweeper.n_trials)
    try:
        cfg = OmegaConf.load(Path(hydra_cfg.sweep.dir) / MULTIRUN_FILE)
        jobs = len(expand_jobs(list(cfg.hydra.overrides.task), True, cfg.hydra))
        return jobs * int(hydra_cfg.sweeper.max_seeds) if "max_seeds" in hydra_cfg.sweeper else jobs
    except Exception:  # progress is informative only; it must never stop a job
        return None


@dataclass(frozen=True)
class SweepClock:
    """A job's place in its sweep, read once when the job starts; `line` then costs no file access, so a live
    display can redraw it several times a second."""

    position: str
    started: float | None = None  # when the sweep started (time.time())
    finishes_at: float | None = None  # the estimate, once a job of this session has finished

    def line(self, now: float | None = None) -> str:
        """E.g. `job 4/12 · 1m05s elapsed · about 3m15s left`."""
        if self.started is None:
            return self.position
        now = time.time() if now is None else now
        line = f"{self.position} · {_duration(now - self.started)} elapsed"
        if self.finishes_at is not None:
            line += f" · about {_duration(max(self.finishes_at - now, 0))} left"
        return line


def sweep_clock(hydra_cfg: DictConfig, total: int | None) -> SweepClock:
    """The estimate is the time per finished job of this session times the jobs without a result."""
    sweep_dir = Path(hydra_cfg.sweep.dir)
    position = f"job {hydra_cfg.job.num + 1}/{total or '?'}"
    try:
        started = (sweep_dir / MULTIRUN_FILE).stat().st_mtime
    except OSError:
        return SweepClock(position)
    now = time.time()
    finished = [path.stat().st_mtime for path in sweep_dir.rglob(RESULT_FILE)]
    this_session = sum(mtime >= started for mtime in finished)
    if not (total and this_session):
        return SweepClock(position, started)
    left = (now - started) / this_session * max(total - len(finished), 0)
    return SweepClock(position, started, now + left)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
