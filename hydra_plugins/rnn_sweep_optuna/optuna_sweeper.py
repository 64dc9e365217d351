"""The Hydra Sweeper: asks Optuna for trials, has the launcher run them as jobs, tells Optuna how each ended."""

from __future__ import annotations

from typing import Any

from rnn_sweep.sweep.launching import LaunchingSweeper


class OptunaSweeper(LaunchingSweeper):
    """Hydra builds it from `hydra.sweeper` (config.OptunaSweeperConf); Optuna is imported only in `sweep`."""

    def sweep(self, arguments: list[str]) -> list[Any]:
        from rnn_sweep.sweep import study as studies
        from rnn_sweep.sweep.space import search_space
        from rnn_sweep.sweep.study_files import report_study

        sweep_dir = self.sweep_folder()
        sweeper = self.config.hydra.sweeper
        space = search_space(sweeper, arguments)
        dists = studies.distributions(space)
        study = studies.open_study(sweeper, sweep_dir)
        left = studies.trials_left(study, sweeper.n_trials)
        returns = []
        while left > 0:
            asked = [studies.ask(study, space, dists) for _ in range(min(sweeper.n_jobs, left))]
            try:
                for batch in _contiguous(asked):
                    jobs = self.launcher.launch([overrides for _, overrides in batch],
                                                initial_job_idx=batch[0][0].user_attrs[studies.JOB])
                    for (trial, _), job in zip(batch, jobs, strict=True):
                        studies.tell(study, trial, job)
                    returns.append(jobs)
            except BaseException:  # Ctrl-C: the trials still running are failed, and asked again on resume
                _fail_running(study, [trial for trial, _ in asked])
                raise
            left = studies.trials_left(study, sweeper.n_trials)
        report_study(study, sweep_dir)
        return returns


def _contiguous(asked: list[tuple[Any, list[str]]]) -> list[list[tuple[Any, list[str]]]]:
    """The asked trials in runs of consecutive job numbers: a launcher numbers a batch's jobs from its first."""
    from rnn_sweep.sweep.study import JOB

    runs: list[list[tuple[Any, list[str]]]] = []
    for item in sorted(asked, key=lambda item: item[0].user_attrs[JOB]):
        if runs and runs[-1][-1][0].user_attrs[JOB] + 1 == item[0].user_attrs[JOB]:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _fail_running(study: Any, trials: list[Any]) -> None:
    from optuna.trial import TrialState

    for trial in trials:
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
