"""rnn-sweep's Hydra launcher for SLURM (Hydra takes launchers only from the hydra_plugins namespace)."""
