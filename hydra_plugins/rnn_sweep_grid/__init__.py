"""rnn-sweep's Hydra sweeper for `hydra/sweeper=basic`, Hydra's default (Hydra takes sweepers only from the
hydra_plugins namespace)."""
