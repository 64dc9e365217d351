"""`hydra/sweeper=basic`, the default, names this class (rnn_sweep.sweep.grid stores the option's config and says
why the check below is left out).

The class is made here rather than in rnn_sweep: Hydra's plugin scan runs its core plugin modules again, and
BasicSweeper's __init__ names its class as the module holds it after that, so a subclass must be made after the
scan, as this module is.
"""

from collections.abc import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


class GridSweeper(BasicSweeper):
    """Hydra's basic sweeper (the same grid, batches, job numbers and multirun.yaml) without composing every job a
    second time before launching it."""

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Nothing left to check: preflight composed and validated each of these jobs before Hydra started."""
