"""The launcher configs rnn-sweep stores over the launcher plugins' own (submitit's local one, joblib's). Nothing
here imports submitit or joblib (optional extras), so preflight and the app can call it whether or not they are
installed."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.config_source import ConfigLoadError
from omegaconf import open_dict

# rnn_sweep.cluster.local's launcher, under the name Hydra accepts (hydra_plugins/rnn_sweep_submitit_local).
LOCAL_LAUNCHER = "hydra_plugins.rnn_sweep_submitit_local.local_launcher.LocalLauncher"
# rnn_sweep.sweep.joblib_launcher's, likewise (hydra_plugins/rnn_sweep_joblib).
JOBLIB_LAUNCHER = "hydra_plugins.rnn_sweep_joblib.joblib_launcher.JoblibLauncher"
# Each option of hydra/launcher whose class rnn-sweep replaces: the class it names instead.
_OURS = {"submitit_local": LOCAL_LAUNCHER, "joblib": JOBLIB_LAUNCHER}


def register_launchers() -> None:
    """Make `hydra/launcher=submitit_local` and `hydra/launcher=joblib` rnn-sweep's launchers: each plugin's node,
    stored again with our class as its `_target_`, so the options users already type stop in one line on a full
    disk (submitit_local) and hand out the longest jobs first (joblib).

    Hydra's plugin scan runs every module of its plugins again, the plugin's config module too (which stores its
    own node), and it runs once per process: it is made here first, so that this node is the one that stays. A
    config file cannot do the same: Hydra would validate it against the node of the same name, a deprecated path.
    """
    Plugins.instance()
    store = ConfigStore.instance()
    for option, target in _OURS.items():
        try:
            node = store.load(f"hydra/launcher/{option}.yaml").node  # a copy
        except ConfigLoadError:  # the plugin is not installed
            continue
        with open_dict(node):
            node._target_ = target
        store.store(group="hydra/launcher", name=option, node=node, provider="rnn_sweep")
