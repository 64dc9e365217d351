"""rnn-sweep's race sweeper for Hydra (`hydra/sweeper=race`): seeds until decided; found by Hydra's plugin scan.

Hydra imports this package on every run, so it only registers the config; the race is rnn_sweep.sweep.race.
"""
