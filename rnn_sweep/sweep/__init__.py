"""Sweep glue: Hydra multirun callback, resume, progress. No TensorFlow."""
