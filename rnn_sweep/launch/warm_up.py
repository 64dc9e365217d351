"""What a process that trains loads before its first job, and why it then takes all of it out of Python's garbage
collections.

TensorFlow, Keras and the training code are about 360,000 Python objects that live as long as the process, and
every full collection walks them all: 0.12 s just after the import, more once a model is traced. Python runs such
collections as objects pile up during a job, and joblib's (loky's) workers force one after every job. gc.freeze()
leaves what is loaded now out of them; what a job makes is still collected.
"""

from __future__ import annotations

import gc
import importlib

from rnn_sweep.train.startup_logs import import_tensorflow

_loaded = False


def load_training_code(*modules: str) -> None:
    """TensorFlow (without its start-up lines), the runner and `modules`, once a process; then the freeze. Not again
    later, which would keep the garbage of the jobs before out of every collection too."""
    global _loaded
    import_tensorflow()
    for module in ("rnn_sweep.train.runner", *modules):
        importlib.import_module(module)
    if not _loaded:
        gc.freeze()
        _loaded = True
