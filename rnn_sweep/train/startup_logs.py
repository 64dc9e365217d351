"""TensorFlow's start-up lines and retracing notices kept out of a run's output, unless RNN_SWEEP_TF_LOGS=1.

TensorFlow's C++ libraries log while they load, before anything reads TF_CPP_MIN_LOG_LEVEL: the absl notice,
the oneDNN and CUDA-driver lines come from static initialisers, once from the core library and once more from
the profiler plugin (_pywrap_profiler_plugin), which carries its own copy of the logging library: hence every
line twice. Device discovery then logs a failed cuInit on a machine without a GPU. So file descriptor 2 itself
is diverted while TensorFlow loads and looks for devices, and what it caught is written back except those
notices: anything else, a real error included, still reaches the user. Later C++ logs below ERROR are hidden by
TF_CPP_MIN_LOG_LEVEL=2, which `quiet_environment` sets before TensorFlow is imported.

TensorFlow's "N out of the last M calls to <function ...> triggered tf.function retracing" warning is left out too.
It counts the traces of all functions made from one piece of Python code, and Keras makes every model's train,
evaluate and predict functions from the same code: a sweep of different models trips it after five jobs though
each graph is traced once (jobs of one graph share their trace: rnn_sweep.train.reuse). What a job traced is in its
record instead (`traces`), where a real retrace would show.

Nothing here imports TensorFlow at module level, so the command line can call `quiet_environment` early.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

SWITCH = "RNN_SWEEP_TF_LOGS"  # =1: start-up lines and retracing notices are shown, the C++ log level left alone

_START_UP_NOISE = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|^[IW]\d{4} "  # absl/glog info and warning lines: notices while the libraries load
    r"|^E\d{4} .*(cuInit|cuda_dlopen|Unable to register cu\w+ factory)"  # no GPU (driver) on this machine
    r"|^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags"
)


def tf_logs_wanted() -> bool:
    return os.environ.get(SWITCH) == "1"


def quiet_environment() -> None:
    """Keep TensorFlow's later C++ info and warnings out of tables; a user's own TF_CPP_MIN_LOG_LEVEL wins."""
    if not tf_logs_wanted():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def is_start_up_noise(line: str) -> bool:
    return bool(_START_UP_NOISE.match(line))


@contextmanager
def start_up_lines_hidden() -> Iterator[None]:
    """Divert file descriptor 2 (C++ and Python alike) to a file, then write back the lines that are not noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not is_start_up_noise(line)))
            sys.stderr.flush()


class _NoRetracingNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _RETRACING_NOTICE not in record.getMessage()


_RETRACING_NOTICE = "triggered tf.function retracing"
_retracing_filter = _NoRetracingNotices()


def import_tensorflow() -> None:
    """Load TensorFlow and let it look for GPUs, without its start-up lines and retracing notices unless
    RNN_SWEEP_TF_LOGS=1."""
    if tf_logs_wanted():
        return
    logging.getLogger("tensorflow").addFilter(_retracing_filter)  # TensorFlow's Python logger; added once
    if "tensorflow" in sys.modules:
        return
    with start_up_lines_hidden():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
