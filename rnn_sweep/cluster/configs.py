"""The launcher configs rnn-sweep stores over hydra-submitit-launcher's own. Nothing here imports submitit (an
optional extra), so preflight and the app can call it whether or not it is installed."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.config_source import ConfigLoadError
from omegaconf import open_dict

# rnn_sweep.cluster.local's launcher, under the name Hydra accepts (hydra_plugins/rnn_sweep_submitit_local).
LOCAL_LAUNCHER = "hydra_plugins.rnn_sweep_submitit_local.local_launcher.LocalLauncher"


def register_launchers() -> None:
    """Make `hydra/launcher=submitit_local` rnn-sweep's local launcher: the plugin's node, stored again with that
    class as its `_target_`, so the option users already type stops in one line on a full disk.

    Hydra's plugin scan runs every module of its plugins again, the plugin's config module too (which stores its
    own node), and it runs once per process: it is made here first, so that this node is the one that stays. A
    config file cannot do the same: Hydra would validate it against the node of the same name, a deprecated path.
    """
    Plugins.instance()
    store = ConfigStore.instance()
    try:
        node = store.load("hydra/launcher/submitit_local.yaml").node  # a copy
    except ConfigLoadError:  # hydra-submitit-launcher is not installed
        return
    with open_dict(node):
        node._target_ = LOCAL_LAUNCHER
    store.store(group="hydra/launcher", name="submitit_local", node=node, provider="rnn_sweep")
