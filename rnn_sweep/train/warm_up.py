"""What a process that trains loads before its first job, and why Python's garbage collector is kept off it.

TensorFlow, Keras and the training code are about 360,000 Python objects that live as long as the process. A full
collection walks them all (0.12 s just after the import, more once a model is traced), and Python starts one each
time the objects it tracks have grown by a quarter: several while they are imported (0.55 s of a 2.9 s import on
the project's 2-core machine), then during jobs, and joblib's (loky's) workers force one after every job. So they
are imported with the collector off and then frozen (gc.freeze): later collections walk what jobs made alone. The
garbage the import leaves (about 5,000 objects) stays with them.
"""

from __future__ import annotations

import gc
import importlib

from rnn_sweep.train.startup_logs import import_tensorflow

_loaded = False


def load_training_code(*modules: str) -> None:
    """TensorFlow (without its start-up lines), the runner and `modules`. The first call a process makes freezes
    them; a later one only imports, or it would keep the garbage of the jobs before out of every collection too."""
    global _loaded
    first, collecting = not _loaded, gc.isenabled()
    if first:
        gc.disable()
    try:
        import_tensorflow()
        for module in ("rnn_sweep.train.runner", *modules):
            importlib.import_module(module)
    finally:
        if first:
            gc.freeze()
            _loaded = True
            if collecting:
                gc.enable()
