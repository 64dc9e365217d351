"""User-facing errors: the CLI prints their message as one paragraph and exits with `exit_code`."""


class UserError(Exception):
    """Something the user can fix (a value, a path); never shown with a traceback."""

    exit_code = 2


class ConfigError(UserError):
    """An invalid config value or override, found before any training starts."""


class NoRoomForRecord(BaseException):
    """A job could not start and not even its `failed` record could be written (a full disk), or its launcher found no
    room for the files it keeps to run the job and hear back from it (submitit's): the command stops.

    A BaseException, so Hydra's error report (which catches Exception and prints a traceback) lets it through to
    the CLI, which writes the sweep's tables where it can and ends with one line and exit status 1.
    """
