"""Choose and describe the device a run trains on (imports TensorFlow)."""

from __future__ import annotations

import os
import platform

import tensorflow as tf

from rnn_sweep.errors import ConfigError


def configure_device(device: str) -> str:
    """Apply `train.device` (auto, cpu, gpu) with GPU memory growth, and return what was used, in words."""
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


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
