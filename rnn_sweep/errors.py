"""User-facing errors: the CLI prints their message as one paragraph and exits with `exit_code`."""


class UserError(Exception):
    """Something the user can fix (a value, a path); never shown with a traceback."""

    exit_code = 2


class ConfigError(UserError):
    """An invalid config value or override, found before any training starts."""
