"""What a sweep on SLURM needs beyond the launcher itself: a reachable scheduler, a GPU request, and the words for
how SLURM ended a job. Nothing here imports submitit (an optional extra), so preflight and the app can use it.
"""

from __future__ import annotations

import shutil
import subprocess

from omegaconf import DictConfig, OmegaConf

from rnn_sweep.errors import ConfigError
from rnn_sweep.sweep.launchers import launcher_traits

GPU_RESOLVER = "rnn_sweep.slurm_gpus"

# How SLURM (or slurmstepd, in the job's stderr) says why a job ended, most telling first. Without cgroups a job
# over its --mem is killed by slurmstepd's memory sampling and ends FAILED: only its stderr names the reason.
_LOG_REASONS = (
    ("exceeded job memory limit", "OUT_OF_MEMORY"),
    ("oom-kill", "OUT_OF_MEMORY"),
    ("oom_kill", "OUT_OF_MEMORY"),
    ("due to time limit", "TIMEOUT"),
    # SLURM's warning before the time limit (--signal=USR2@signal_delay_s), come before submitit's handler was set.
    ("user defined signal 2", "TIMEOUT"),
    # The launcher's own SlurmTimeLimit, raised on that warning: the job then ends by itself, so SLURM says COMPLETED.
    ("slurm signalled that the job's time limit", "TIMEOUT"),
    ("due to preemption", "PREEMPTED"),
    ("due to node failure", "NODE_FAIL"),
    ("cancelled at", "CANCELLED"),
)
_TOLD_BY_STATE = ("TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "DEADLINE")


def register_resolver() -> None:
    OmegaConf.register_new_resolver(GPU_RESOLVER, gpus_for_device, replace=True)


def gpus_for_device(device: str) -> int | None:
    """GPUs per node to ask SLURM for: one when the run asks for a GPU (train.device=gpu), else none."""
    return 1 if device == "gpu" else None


def check_scheduler(launcher: DictConfig) -> None:
    """ConfigError, before any job is submitted, when a SLURM launcher is chosen where SLURM cannot be reached."""
    if not launcher_traits(launcher).on_slurm:
        return
    missing = [command for command in ("sbatch", "srun", "squeue") if shutil.which(command) is None]
    if missing:
        raise ConfigError(
            f"hydra/launcher=slurm submits every job to SLURM, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not on this machine's PATH, so nothing was submitted. "
            "Run the sweep on the cluster's login node (after `module load slurm` where the cluster needs it), "
            "start a one-node SLURM here with `bash scripts/local-slurm.sh up`, or leave out hydra/launcher=slurm "
            "to run the jobs on this machine (hydra/launcher=joblib runs them side by side)."
        )
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30, check=False)
    if ping.returncode != 0 or "DOWN" in ping.stdout:
        said = " ".join((ping.stdout + ping.stderr).split()) or f"exit status {ping.returncode}"
        raise ConfigError(
            f"hydra/launcher=slurm needs SLURM's controller, but `scontrol ping` says: {said}. Nothing was "
            "submitted. Start the one-node cluster with `bash scripts/local-slurm.sh up` (see `bash "
            "scripts/local-slurm.sh status`), or ask the cluster's admins whether slurmctld is down."
        )


def ended_by_slurm(state: str | None) -> bool:
    """Whether SLURM itself ended the job (scancel, a limit, a node): no result is coming, so none is waited for."""
    return (state or "UNKNOWN").split()[0].upper() in _TOLD_BY_STATE


def end_reason(state: str, log: str | None) -> str:
    """Why SLURM ended a job that returned no result: TIMEOUT, OUT_OF_MEMORY, CANCELLED, ..., or its state.

    `log` is all the job left in words (its stderr and what submitit said of it), since the state alone can be
    COMPLETED for a job that stopped itself on SLURM's warning.
    """
    state = (state or "UNKNOWN").split()[0].upper()  # squeue writes "CANCELLED by 0" for scancel
    if ended_by_slurm(state):
        return state
    lowered = (log or "").lower()
    for phrase, reason in _LOG_REASONS:
        if phrase in lowered:
            return reason
    return state


def slurm_lines(log: str | None) -> str:
    """What SLURM itself wrote into a job's stderr (slurmstepd, srun), without the program's own output."""
    lines = [line.strip() for line in (log or "").splitlines() if _by_slurm(line)]
    return " | ".join(dict.fromkeys(lines))[-500:]


def program_output(log: str | None) -> str:
    """A job's stderr without what SLURM itself wrote into it: what the program said, its last words last."""
    return "\n".join(line for line in (log or "").splitlines() if not _by_slurm(line))


def _by_slurm(line: str) -> bool:
    return "slurmstepd" in line or line.startswith("srun:")
