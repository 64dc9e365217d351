"""What tests share that is not a fixture: the settings of tiny trained runs, the CLI run as a user runs it, the
config as Hydra composes it, and the guard that keeps TensorFlow out of the fast tier."""
