"""rnn-sweep: train and sweep recurrent MNIST classifiers with Hydra, and keep comparable results."""

__version__ = "0.1.0"
