"""Subcommands beside training (`rnn-sweep NAME ...`); each module has `main(argv) -> int` and its own --help."""

SUBCOMMANDS = ("compare", "report", "reproduce")
