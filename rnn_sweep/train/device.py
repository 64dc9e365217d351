"""The device and CPU threads a run trains on.

TensorFlow is imported inside the functions that configure it: `available_cores` runs before a config is known
good, where TensorFlow must not load yet.
"""

from __future__ import annotations

import os
import platform

from rnn_sweep.errors import ConfigError


def configure_device(device: str) -> str:
    """Apply `train.device` (auto, cpu, gpu) with GPU memory growth, and return what was used, in words."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise ConfigError(
            "train.device=gpu, but TensorFlow sees no GPU on this machine. "
            "Use train.device=auto (GPU when there is one) or train.device=cpu."
        )
    try:
        if device == "cpu":
            tf.config.set_visible_devices([], "GPU")
            gpus = []
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        # The runtime was already started by an earlier job in this process; its settings stay.
        gpus = tf.config.get_visible_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU:0 {details.get('device_name', '')}".strip()
    return f"CPU {_cpu_name()} ({os.cpu_count()} cores)"


def configure_threads(threads: int | None) -> int | None:
    """Cap TensorFlow's intra- and inter-op thread pools at `threads`; return the cap in force.

    It must happen before TensorFlow starts its runtime; later jobs in the same process (Hydra's basic
    launcher, a reused joblib worker) keep the first job's pools.
    """
    import tensorflow as tf

    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # the runtime is already running; the cap read below is what applies
    return tf.config.threading.get_intra_op_parallelism_threads() or None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# TensorFlow sizes its thread pools to every core of the machine; n jobs started side by side (joblib,
# submitit) then run n times that many threads. `train.threads=null` (auto) gives each job its share
# (rnn_sweep.sweep.launchers.threads_per_job).
def available_cores() -> int:
    """Cores this process may run on (affinity and cgroup cpusets, where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
