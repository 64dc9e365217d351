"""An address-space limit (`ulimit -v`, RLIMIT_AS): what the command does about it before anything heavy loads.

OpenBLAS (numpy's, and SciPy's own copy) allocates a 32 MB buffer for each of its threads as the library loads, one
thread per core, and when an allocation fails it tries again, forever: the process spins in the library's start-up,
a hang no one can tell from a slow job. Seen in SciPy's copy, which Keras loads while TensorFlow is imported, once
TensorFlow has taken most of the room (`ulimit -v 1600000` on a 2-core machine; 1550000 with one thread). So under
any such limit OpenBLAS gets one thread (nothing here trains with BLAS: TensorFlow has its own kernels), which takes
the number of cores out of what the libraries need; OpenBLAS reads the setting once, as it loads, so
`cap_blas_threads` runs before numpy is imported. And the command loads SciPy's copy itself before it starts its
training process, while it has room: the child inherits it loaded, and TensorFlow's import no longer loads it.
"""

from __future__ import annotations

import errno
import os
from contextlib import suppress

try:
    import resource
except ImportError:  # Windows: no rlimits
    resource = None

# OpenBLAS's own setting, which wins over OMP_NUM_THREADS; a user's value is kept.
_BLAS_THREADS = "OPENBLAS_NUM_THREADS"
# The room SciPy's linear algebra takes as it loads (about 100 MB with one OpenBLAS thread), with some to spare.
_ROOM_FOR_SCIPY_KB = 256 * 1024


def limit_kb() -> int | None:
    """The address-space limit of this process in kB, as `ulimit -v` shows it; None when there is none."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft // 1024


def cap_blas_threads() -> None:
    """Under an address-space limit, one OpenBLAS thread for this process and every process it starts."""
    if limit_kb() is not None:
        os.environ.setdefault(_BLAS_THREADS, "1")


def load_blas_while_there_is_room() -> None:
    """Under an address-space limit, load SciPy's OpenBLAS now, before the training process is started, if there is
    room for it. With less room TensorFlow cannot load either (its main library alone is larger), and the training
    process fails on that before anything would load SciPy."""
    limit, used = limit_kb(), _used_kb()
    if limit is None or used is None or limit - used < _ROOM_FOR_SCIPY_KB:
        return
    with suppress(ImportError, MemoryError):  # not installed, or no room after all: as if not tried
        import scipy.linalg  # noqa: F401


def _used_kb() -> int | None:
    """The address space this process takes now, in kB (Linux's /proc); None where it cannot be read."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        return None


def lack_of_memory(error: BaseException | None) -> BaseException | None:
    """The error that says the process had no room (a MemoryError, a library that could not be mapped): `error`
    itself or one it was raised from, the innermost such (OmegaConf wraps what a resolver raised); None if none."""
    found, seen = None, set()
    while error is not None and id(error) not in seen:
        if isinstance(error, MemoryError) or (isinstance(error, OSError) and error.errno == errno.ENOMEM) or \
                (isinstance(error, ImportError) and "failed to map segment" in str(error)):
            found = error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return found
