"""A sweep's report is computed once and rendered many times: `rnn-sweep report` writes every view the end of a
multirun writes, TensorBoard's HParams included. No training: the records are written with rnn-sweep's writer."""

from __future__ import annotations

from pathlib import Path

from helpers.cli import run_cli
from helpers.config import typed_config
from omegaconf import OmegaConf

from rnn_sweep.record.columns import HYDRA_DIR, MULTIRUN_FILE, REPORT_HTML, RESULTS_CSV, SUMMARY_CSV, TENSORBOARD_DIR
from rnn_sweep.record.result_files import new_record, write_result
from rnn_sweep.report.tensorboard_hparams import HPARAMS_EVENTS


def _logged_job(sweep: Path, num: int, units: int, accuracy: float) -> Path:
    """Job `num`: its saved config, its record and the TensorBoard folder a train.tensorboard=true run leaves."""
    overrides = [f"model.units={units}", "train.tensorboard=true"]
    typed = typed_config(*overrides, "seed=0")
    job = sweep / str(num)
    (job / HYDRA_DIR).mkdir(parents=True)
    (job / TENSORBOARD_DIR).mkdir()
    OmegaConf.save(typed, job / HYDRA_DIR / "config.yaml")
    (sweep / MULTIRUN_FILE).write_text("hydra: {}\n")
    record = new_record(typed, job, overrides)
    record.update(status="ok", error=None, epochs_completed=1, test_samples=200, test_accuracy=accuracy,
                  test_loss=1.0, epoch_seconds_all=[1.0], train_samples_per_second=100.0)
    write_result(job, record)
    return job


def test_report_writes_the_tables_the_page_and_tensorboards_hparams_from_one_computation(tmp_path):
    sweep = tmp_path / "sweep"
    jobs = [_logged_job(sweep, num, units, accuracy) for num, (units, accuracy) in enumerate([(4, 0.5), (8, 0.75)])]

    result = run_cli("report", str(sweep), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    for name in (RESULTS_CSV, SUMMARY_CSV, REPORT_HTML):
        assert (sweep / name).is_file(), f"report wrote no {name}"
    view = sweep / TENSORBOARD_DIR  # the sweep's HParams view: the experiment, and one run per job
    assert (view / HPARAMS_EVENTS).is_file(), "report wrote no HParams experiment for the sweep"
    sessions = sorted(path.parent.name for path in view.glob(f"*/{HPARAMS_EVENTS}"))
    assert len(sessions) == len(jobs), f"report wrote HParams sessions for {sessions}, not one per job"
