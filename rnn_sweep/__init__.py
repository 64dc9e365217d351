"""rnn-sweep: train and sweep recurrent MNIST classifiers with Hydra, and keep comparable results."""

import time

__version__ = "0.1.0"
# When the command began (the package is imported first): a sweep reports its start-up seconds from here.
COMMAND_STARTED = time.time()
