"""`hydra/launcher=joblib` names this class (rnn_sweep.cluster.configs stores the option's config); the work is in
rnn_sweep.sweep.joblib_launcher.

Hydra imports every module under hydra_plugins at start-up and accepts a launcher only if its class is defined
there. Without hydra-joblib-launcher (the optional extra rnn-sweep[joblib]) there is nothing to define.
"""

from importlib.util import find_spec

if find_spec("hydra_plugins.hydra_joblib_launcher") and find_spec("joblib"):
    from rnn_sweep.sweep import joblib_launcher

    class JoblibLauncher(joblib_launcher.JoblibLauncher):
        """rnn-sweep's joblib launcher, under the name Hydra accepts."""
