"""rnn-sweep's Optuna search sweeper for Hydra (`hydra/sweeper=optuna`); found by Hydra's plugin scan.

Hydra imports this package on every run, so nothing here imports Optuna: that happens when a search starts.
"""
