"""The search's fixed vocabulary: the sweeper Hydra builds for `hydra/sweeper=optuna`, and the values its keys take.

The plugin (hydra_plugins/rnn_sweep_optuna) registers its config with these; the core reads them from here, so
it never imports the plugin.
"""

SWEEPER_TARGET = "hydra_plugins.rnn_sweep_optuna.optuna_sweeper.OptunaSweeper"
PRUNERS = ("median", "none")
DIRECTIONS = ("maximize", "minimize")
DEFAULT_OBJECTIVE = "best_val_accuracy"
# The sampler config groups: `hydra/sweeper/sampler=<name>` picks the Optuna sampler class; any of its arguments
# go beside `_target_`. `seed` is the one every group sets, so a search can be repeated.
SAMPLER_GROUPS = {
    "tpe": "optuna.samplers.TPESampler",
    "random": "optuna.samplers.RandomSampler",
    "cmaes": "optuna.samplers.CmaEsSampler",
    "grid": "optuna.samplers.GridSampler",
    "nsgaii": "optuna.samplers.NSGAIISampler",
    "nsgaiii": "optuna.samplers.NSGAIIISampler",
    "qmc": "optuna.samplers.QMCSampler",
    "gp": "optuna.samplers.GPSampler",
    "bruteforce": "optuna.samplers.BruteForceSampler",
}
DEFAULT_SEED = 42
