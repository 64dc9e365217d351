"""`hydra/launcher=joblib`, the launcher that trains a sweep's jobs side by side: Hydra's joblib launcher, handing
its jobs out the most work first (rnn_sweep.sweep.longest_first) while each keeps its number and folder.

Hydra's launcher hands them out in the grid's order; everything else (its settings, its log lines, the job it runs in
each worker) is the plugin's own. The class Hydra accepts is made in hydra_plugins/rnn_sweep_joblib.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher import _core
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher as HydraJoblibLauncher
from joblib import Parallel, delayed

from rnn_sweep.sweep import longest_first

log = logging.getLogger(__name__)


class JoblibLauncher(HydraJoblibLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Hydra's joblib launch (hydra_joblib_launcher._core.launch) with the jobs handed out longest first; the
        returns in the grid's order, as Hydra expects them."""
        setup_globals()
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        joblib_cfg = self.joblib
        joblib_cfg["backend"] = "loky"  # as Hydra's: its threading backend cannot run Hydra jobs
        _core.process_joblib_cfg(joblib_cfg)
        log.info("Joblib.Parallel({}) is launching {} jobs".format(
            ",".join(f"{key}={value}" for key, value in joblib_cfg.items()), len(job_overrides)))
        log.info(f"Launching jobs, sweep output dir : {sweep_dir}")
        for idx, overrides in enumerate(job_overrides):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        singleton_state = Singleton.get_state()
        positions = longest_first.order(job_overrides)
        runs = Parallel(**joblib_cfg)(
            delayed(_core.execute_job)(initial_job_idx + position, job_overrides[position], self.hydra_context,
                                       self.config, self.task_function, singleton_state)
            for position in positions)
        returned = dict(zip(positions, runs, strict=True))
        return [returned[position] for position in range(len(job_overrides))]
