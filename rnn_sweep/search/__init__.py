"""Search: the Optuna study behind `hydra/sweeper=optuna`, its search space and its files."""
