"""Named points of a search where a test can have the process die at once, as a crash or `kill -9` would.

Resume must hold whatever the moment of the kill; a kill timed by a sleep hits a window only now and then, so the
tests name the window instead: `RNN_SWEEP_KILL_AT=<point>:<job>` kills the search (SIGKILL, no tidying up) when it
reaches that point for that job folder number. Unset, as it always is outside the tests, each check is one lookup.
"""

from __future__ import annotations

import os

from rnn_sweep.sweep.claims import kill_command

KILL_AT = "RNN_SWEEP_KILL_AT"
# In the order a trial passes them: asked (the trial exists, its job has not run), recorded (the job wrote its
# result.json), status (the trial holds the run's status, not yet told), told (the trial is finished in the study).
POINTS = ("asked", "recorded", "status", "told")


def kill_point(point: str, job: int) -> None:
    """SIGKILL the command if the environment names this point for this job."""
    if os.environ.get(KILL_AT) == f"{point}:{job}":
        kill_command()
