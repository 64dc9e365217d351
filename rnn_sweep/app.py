"""The Hydra task: one composed config in, one run folder out. Kept thin; the work is in runner.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rnn_sweep.console import print_error, print_run_summary, stdout
from rnn_sweep.errors import ConfigError
from rnn_sweep.paths import conf_dir
from rnn_sweep.results import COLUMNS, write_result
from rnn_sweep.schema import register
from rnn_sweep.validate import validate

register()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def train_app(cfg: DictConfig) -> dict[str, Any]:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = list(hydra_cfg.overrides.task)
    single_run = hydra_cfg.mode == RunMode.RUN
    try:
        typed = validate(cfg)
    except ConfigError as error:
        if single_run:
            print_error(str(error))
            sys.exit(error.exit_code)
        record = {**dict.fromkeys(COLUMNS), "run_dir": str(run_dir), "status": "failed",
                  "error": f"ConfigError: {error}", "overrides": " ".join(overrides)}
        write_result(run_dir, record)
        return record

    from rnn_sweep.runner import train_run  # imports TensorFlow: only now that the config is known good

    record = train_run(typed, run_dir, overrides, stdout)
    print_run_summary(record)
    if single_run and record["status"] != "ok":
        print_error(f"the run ended with status {record['status']}: {record['error']}")
        sys.exit(1)
    return record
