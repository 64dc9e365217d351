"""`train.parallel_jobs`: the jobs of a grid sweep trained side by side, each on an equal share of the CPU's cores.

A small recurrent model cannot keep two cores busy: its step is a chain of small ops, one after another, and
TensorFlow's second thread mostly waits (which is why batch shards, rnn_sweep.train.speed, pay only from 8,192
recurrent weights in runs of 1,000 steps). Two such jobs side by side, one thread each, finish a sweep sooner than
one job at a time on every core (benchmarks/README.md, "Parallel jobs"). So, with `auto`, a grid sweep on a CPU that
names no launcher and trains enough to earn back a second process's start-up runs its jobs with the joblib launcher,
one per idle core (rnn_sweep.sweep.launchers.threads_per_job then gives each its share of the threads). Idle: jobs side
by side need cores that other work leaves free, or each trains slower than alone on all of them (measured on the
2-core machine busy with other work: slower than one at a time); the command watches how much CPU other processes
use while it checks the jobs.

Results stay as they are: a job's history, scores and predictions were the same bit for bit on 1 thread as on 2 for
every cell at 64 and 128 units on this project's CPU (tests/test_side_by_side.py pins it for a sweep), and `auto`
goes side by side only where no job's speed plan depends on the thread count (batch shards follow it, and shards sum
their gradients in another order). Nothing here imports TensorFlow or joblib: it runs in the command, before Hydra
launches a job.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from rnn_sweep.config.schema import AUTO
from rnn_sweep.data.loading import SIZES, held_out
from rnn_sweep.data.sequences import sequence_shape
from rnn_sweep.errors import ConfigError
from rnn_sweep.sweep.grid import GRID_SWEEPERS
from rnn_sweep.sweep.launchers import BASIC_LAUNCHER
from rnn_sweep.train.speed import fit_plan, plan_speed

KEY = "train.parallel_jobs"
# With `auto`, a sweep goes side by side only when its jobs train at least this many optimizer steps in all: each
# worker process imports TensorFlow and reads the data on its own before its first job (seconds of CPU time), which a
# sweep of a few tiny jobs would not earn back.
MIN_SWEEP_STEPS = 400
# Less time than this between two CPU samples tells too little about the other processes' use: all cores count idle.
_MIN_WATCH_SECONDS = 0.2


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds spent by the whole machine (None where /proc/stat does not tell) and by this process and its
    children, at a moment."""

    machine: float | None
    own: float
    at: float

    @classmethod
    def now(cls) -> CpuSample:
        times = os.times()
        return cls(_machine_busy_seconds(), times.user + times.system + _children_seconds(), time.monotonic())


def idle_cores(since: CpuSample, cores: int) -> float:
    """How many of `cores` other processes left idle since `since` (this process's own use does not count): all of
    them where the system does not tell, or too little time has passed to tell."""
    now = CpuSample.now()
    seconds = now.at - since.at
    if now.machine is None or since.machine is None or seconds < _MIN_WATCH_SECONDS:
        return float(cores)
    others = max(0.0, (now.machine - since.machine) - (now.own - since.own)) / seconds
    return max(0.0, min(float(cores), (os.cpu_count() or cores) - others))


def _children_seconds() -> float:
    """CPU seconds used so far by the processes this one started that still run: its training child loads
    TensorFlow while the command checks itself (rnn_sweep.cli), which is this command's work, not other work."""
    me, ticks = os.getpid(), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rpartition(")")[2].split()
            if int(fields[1]) == me:  # the parent's pid, then utime and stime at 11 and 12 after the name
                ticks += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot (the `cpu` line of /proc/stat, less idle and I/O wait)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:]]
        return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # guest time is in user already
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class SideBySide:
    """How many jobs train at once and the CPU threads each gets; `chosen`: by `auto` rather than a number."""

    jobs: int
    threads: int
    chosen: bool

    def overrides(self) -> list[str]:
        """What the command adds to its Hydra overrides: the joblib launcher with this many workers."""
        return ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={self.jobs}"]

    def line(self) -> str:
        """The line the command prints before the sweep starts."""
        why = f"{KEY}={AUTO}: small models, {self.jobs} idle CPU cores" if self.chosen else f"{KEY}={self.jobs}"
        threads = "1 thread" if self.threads == 1 else f"{self.threads} threads"
        return (f"Training {self.jobs} jobs side by side, {threads} each ({why}); {KEY}=1 trains them one at a time.")


def side_by_side(jobs: Sequence[DictConfig], hydra_cfg: DictConfig, named: Sequence[str], cores: int,
                 idle: float) -> SideBySide | None:
    """How a multirun of the validated `jobs` trains them side by side, or None for one at a time (as the launcher
    in `hydra_cfg` does). `named`: the keys and groups the command line overrides, to tell a launcher the user chose;
    `idle`: how many of the `cores` other work leaves idle.

    A number names how many at once for a grid sweep without a launcher of the user's; `auto` chooses one per idle
    core where every job is small and on the CPU (see the module's docstring); 1, a single job, a race or a search,
    or a launcher the user named keep the launcher as it is.
    """
    values = {job.train.parallel_jobs for job in jobs}
    if len(values) > 1:
        raise ConfigError(f"{KEY} decides how the whole sweep trains its jobs, so it takes one value, not several "
                          f"({', '.join(map(str, sorted(values, key=str)))}). Give it once, e.g. {KEY}=2.")
    wanted = values.pop() if values else 1
    if wanted == 1:
        return None
    why_not = _launcher_of_its_own(hydra_cfg, named)
    if wanted != AUTO:
        if why_not:
            raise ConfigError(f"{KEY}={wanted} trains a grid sweep's jobs side by side with the joblib launcher, but "
                              f"{why_not}. Leave {KEY} out (or set it to 1) and let the launcher or sweeper decide.")
        if not _joblib_installed():
            raise ConfigError(f"{KEY}={wanted} trains jobs side by side with the joblib launcher, an optional extra "
                              "that is not installed: pip install 'rnn-sweep[joblib]', or set it to 1.")
        at_once = min(int(wanted), len(jobs))
        return SideBySide(at_once, max(1, cores // at_once), chosen=False) if at_once > 1 else None
    at_once = min(cores, round(idle), len(jobs))
    threads = max(1, cores // max(1, at_once))
    if why_not or at_once < 2 or not all(_small_on_cpu(job, threads, cores) for job in jobs) \
            or sum(training_steps(job) for job in jobs) < MIN_SWEEP_STEPS \
            or not _joblib_installed():
        return None
    return SideBySide(at_once, threads, chosen=True)


def _launcher_of_its_own(hydra_cfg: DictConfig, named: Sequence[str]) -> str | None:
    """Why the sweep's launcher is not ours to choose: one the command or its config names, or a race or search."""
    if any(key == "hydra/launcher" or key.startswith("hydra.launcher") for key in named):
        return "the command names a launcher (hydra/launcher=..., hydra.launcher.*), whose own keys decide that"
    if str(hydra_cfg.launcher.get("_target_", "")) != BASIC_LAUNCHER:
        return "the config names a launcher, whose own keys decide that"
    if str(hydra_cfg.sweeper.get("_target_", "")) not in GRID_SWEEPERS:
        return ("a race or a search hands its jobs to the launcher as it chooses them: name one for it "
                "(hydra/launcher=joblib, with hydra.sweeper.n_jobs=N for a search)")
    return None


def _small_on_cpu(job: DictConfig, threads: int, cores: int) -> bool:
    """Whether a job trains on the CPU with the same plan on `threads` as on all `cores`, and leaves its threads to
    rnn-sweep (train.threads unset)."""
    if job.train.threads is not None or job.train.device == "gpu" or (job.train.device == "auto" and _gpu_present()):
        return False
    time_steps = sequence_shape(job.data.sequence)[0]
    plan = fit_plan(job.train, train_samples(job))

    def shards(threads: int) -> int:
        return plan_speed(job.model, job.train, time_steps=time_steps, training_steps=plan.total_steps,
                          steps_per_epoch=plan.steps_per_epoch, on_gpu=False, cores=threads).batch_shards

    return shards(threads) == shards(cores)


def train_samples(job: DictConfig) -> int:
    """The training images a job will fit on (its subset less the held-out share), as rnn_sweep.data.loading's
    make_splits takes them from a data set of the standard size."""
    limit = job.data.limit_train
    images = SIZES["train"] if limit is None else min(limit, SIZES["train"])
    return images - held_out(images, job.train.validation_split)


def _joblib_installed() -> bool:
    return importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is not None


def training_steps(job: DictConfig) -> int:
    """The optimizer steps a job trains for, from its composed config."""
    return fit_plan(job.train, train_samples(job)).total_steps


def _gpu_present() -> bool:
    """Whether TensorFlow may find a GPU here (an NVIDIA or ROCm device file not hidden by CUDA_VISIBLE_DEVICES),
    told without importing it: `train.device=auto` would then train there, where jobs side by side would share it."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*")) or Path("/dev/kfd").exists()
