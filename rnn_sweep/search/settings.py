"""The search's fixed vocabulary: the sweeper Hydra builds for `hydra/sweeper=optuna`, and the values its keys take.

The plugin (hydra_plugins/rnn_sweep_optuna) registers its config with these; the core reads them from here, so
it never imports the plugin.
"""

SWEEPER_TARGET = "hydra_plugins.rnn_sweep_optuna.optuna_sweeper.OptunaSweeper"
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
DIRECTIONS = ("maximize", "minimize")
