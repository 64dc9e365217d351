"""`hydra/launcher=submitit_local` names this class (rnn_sweep.cluster.configs stores the option's config); the
work is in rnn_sweep.cluster.local.

Hydra imports every module under hydra_plugins at start-up and accepts a launcher only if its class is defined
there. Without hydra-submitit-launcher (the optional extra rnn-sweep[submitit]) there is nothing to define.
"""

from importlib.util import find_spec

if find_spec("hydra_plugins.hydra_submitit_launcher") and find_spec("submitit"):
    from rnn_sweep.cluster import local

    class LocalLauncher(local.LocalLauncher):
        """rnn-sweep's local submitit launcher, under the name Hydra accepts."""
