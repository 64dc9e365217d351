"""Multirun sweeps through the real CLI on tiny real MNIST subsets: tables, failures, resume, launchers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers.cli import run_cli, run_probe
from helpers.config import compose_config
from helpers.runs import SEEDED_GRID
from helpers.runs import SHARED_GRID as GRID

from rnn_sweep.config.paths import conf_dir
from rnn_sweep.errors import ConfigError
from rnn_sweep.launch.preflight import expand_jobs, preflight
from rnn_sweep.record.columns import CONTRACT_COLUMNS
from rnn_sweep.report.plots import ACCURACY_PLOT, CURVES_PLOT

TINY = ("data.limit_train=600", "data.limit_test=200", "train.epochs=1", "train.save_model=false")


def _sweep_dir(cwd: Path) -> Path:
    (sweep_dir,) = (cwd / "outputs" / "sweeps").iterdir()
    return sweep_dir


def _results(sweep_dir: Path) -> pd.DataFrame:
    return pd.read_csv(sweep_dir / "results.csv")


@pytest.fixture
def grid_copy(grid_sweep, tmp_path) -> Path:
    """A copy of the trained sweep for a test that rebuilds, resumes or grows it, so every test of this file holds
    in any order. The copy does not lead back to the original: its records and Hydra's files keep the original path
    only as provenance, and tables and resume find each job by the folder it is in now."""
    return shutil.copytree(grid_sweep[0], tmp_path / grid_sweep[0].name)


@pytest.mark.slow
def test_grid_sweep_writes_results_and_both_pivots(grid_sweep):
    sweep_dir, result = grid_sweep
    assert result.returncode == 0, result.stderr[-3000:]
    results = _results(sweep_dir)
    assert len(results) == 6 and set(CONTRACT_COLUMNS) <= set(results.columns)
    assert (results["status"] == "ok").all()
    assert sorted(zip(results["cell"], results["units"], strict=True)) == sorted(
        (cell, units) for cell in ("simple_rnn", "lstm", "gru") for units in (4, 8)
    )
    assert results["test_accuracy"].between(0, 1).all() and (results["epoch_seconds"] > 0).all()
    assert not list(sweep_dir.glob(".*tmp*")), "temporary files left behind"
    assert results["trace_seconds"].isna().all()  # one epoch each: no steady epoch to tell tracing from
    timing = json.loads((sweep_dir / "sweep_timing.json").read_text())
    assert timing["start_seconds"] > 0 and timing["end_seconds"] > 0

    accuracy = pd.read_csv(sweep_dir / "accuracy.csv", index_col=[0, 1])  # only rows varied: one header line
    assert accuracy.index.names == ["cell", "units"] and list(accuracy.columns) == ["test_accuracy"]
    assert len(accuracy) == 6
    assert accuracy.loc[("gru", 8), "test_accuracy"] == pytest.approx(
        results.query("cell == 'gru' and units == 8")["test_accuracy"].iloc[0]
    )
    timing = pd.read_csv(sweep_dir / "timing.csv", index_col=[0, 1])
    assert list(timing.columns) == ["epoch_seconds", "train_samples_per_second"] and len(timing) == 6
    assert (timing > 0).all().all()

    for plot in (ACCURACY_PLOT, CURVES_PLOT):  # drawn by the aggregation, beside the tables
        png = (sweep_dir / plot).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000, plot

    assert "test accuracy" in result.stdout and "6 of 6 jobs ok" in result.stdout
    assert "job 6/6" in result.stdout and "elapsed" in result.stdout and "left" in result.stdout


@pytest.mark.slow
def test_report_rebuilds_the_tables_without_tensorflow(grid_copy):
    sweep_dir = grid_copy
    before = {name: (sweep_dir / name).read_text() for name in ("results.csv", "accuracy.csv", "timing.csv")}
    for name in before:
        (sweep_dir / name).unlink()
    report = run_probe("report", str(sweep_dir), cwd=sweep_dir)
    assert report.returncode == 0, report.stderr
    assert "TENSORFLOW-NOT-IMPORTED" in report.stdout and "test accuracy" in report.stdout
    assert {name: (sweep_dir / name).read_text() for name in before} == before

    single = run_cli("report", str(sweep_dir / "0"), cwd=sweep_dir)
    assert single.returncode == 0 and "test accuracy" in single.stdout
    missing = run_cli("report", str(sweep_dir / "nope"), cwd=sweep_dir)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_resume_retrains_only_the_missing_job(grid_copy, mnist_path):
    sweep_dir = grid_copy
    results = {path.parent.name: path for path in sweep_dir.glob("*/result.json")}
    kept = {name: (path.stat().st_mtime_ns, path.read_text()) for name, path in results.items() if name != "3"}
    results["3"].unlink()

    result = run_cli(*GRID, f"hydra.sweep.dir={sweep_dir}", cwd=sweep_dir.parent, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {name: (results[name].stat().st_mtime_ns, results[name].read_text()) for name in kept} == kept
    assert json.loads(results["3"].read_text())["status"] == "ok"
    assert result.stdout.count("skipped:") == 5 and result.stdout.count("epoch 1/1") == 1
    resumed = _results(sweep_dir)
    assert len(resumed) == 6 and (resumed["status"] == "ok").all()
    assert not resumed.duplicated(["cell", "units"]).any()


@pytest.mark.slow
def test_a_job_folder_of_another_config_is_never_overwritten(grid_copy, mnist_path):
    sweep_dir = grid_copy
    job0 = sweep_dir / "0"
    before = {path: path.read_bytes() for path in job0.rglob("*") if path.is_file()}

    result = run_cli("-m", "model=gru", "model.units=16", *TINY, f"hydra.sweep.dir={sweep_dir}",
                     cwd=sweep_dir.parent, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {path: path.read_bytes() for path in job0.rglob("*") if path.is_file()} == before
    (fresh,) = sweep_dir.glob("0-*")  # job 0 of this sweep trains in a folder of its own
    record = json.loads((fresh / "result.json").read_text())
    assert (record["status"], record["cell"], record["units"]) == ("ok", "gru", 16)
    assert len(_results(sweep_dir)) == 7

    # The job folder named by hand, as Hydra's default would: the same.
    named = run_cli("-m", "model=lstm", "model.units=16", *TINY, f"hydra.sweep.dir={sweep_dir}",
                    "hydra.sweep.subdir='${hydra.job.num}'", cwd=sweep_dir.parent, data=mnist_path)
    assert named.returncode == 0, named.stderr[-3000:]
    assert {path: path.read_bytes() for path in job0.rglob("*") if path.is_file()} == before
    assert len(_results(sweep_dir)) == 8

    # A single run pointed at a folder holding another config's result: refused before anything is written.
    single = run_cli("model=gru", "model.units=32", *TINY, f"hydra.run.dir={job0}", cwd=sweep_dir.parent,
                     data=mnist_path)
    assert single.returncode == 2 and "already holds the result of another config" in single.stderr
    assert "Traceback" not in single.stderr and "epoch 1/1" not in single.stdout
    assert {path: path.read_bytes() for path in job0.rglob("*") if path.is_file()} == before


@pytest.mark.slow
def test_a_sweep_grows_by_identity_not_by_job_number(seeded_grid, tmp_path, mnist_path):
    """seeds=2 then seeds=3 trains one new run per setting; the values in another order, or fewer, train nothing."""
    sweep_dir = shutil.copytree(seeded_grid[0], tmp_path / "grow")
    records = {path: path.read_text() for path in sweep_dir.glob("*/result.json")}
    assert len(records) == 8  # 2 cells x 2 sizes x seeds 0 and 1
    grid = [*(setting for setting in SEEDED_GRID if not setting.startswith(("seeds=", "model="))),
            f"hydra.sweep.dir={sweep_dir}"]

    grown = run_cli(*grid, "seeds=3", "model=simple_rnn,gru", cwd=tmp_path, data=mnist_path)
    assert grown.returncode == 0, grown.stderr[-3000:]
    assert grown.stdout.count("skipped:") == 8 and grown.stdout.count("epoch 1/1") == 4
    assert {path: path.read_text() for path in records} == records
    results = pd.read_csv(sweep_dir / "results.csv", dtype={"run_dir": str})
    assert len(results) == 12 and (results["status"] == "ok").all()
    assert results.groupby(["cell", "units"])["seed"].apply(sorted).tolist() == [[0, 1, 2]] * 4
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert summary["n"].tolist() == [3] * 4 and str(summary["units"].dtype) == "int64"

    for values in ("model=gru,simple_rnn", "model=gru"):
        again = run_cli(*grid, "seeds=3", values, cwd=tmp_path, data=mnist_path)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "epoch 1/1" not in again.stdout and again.stdout.count("skipped:") == 6 * len(values.split(","))
        assert len(pd.read_csv(sweep_dir / "results.csv")) == 12


@pytest.mark.slow
def test_a_diverging_job_does_not_sink_the_sweep(tmp_path, mnist_path):
    result = run_cli("-m", "model=simple_rnn", "model.units=8", "optimizer=sgd", "optimizer.learning_rate=0.01,1e4",
                     *TINY, cwd=tmp_path, data=mnist_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    sweep_dir = _sweep_dir(tmp_path)
    results = _results(sweep_dir).set_index("learning_rate")
    assert results.loc[0.01, "status"] == "ok" and 0 <= results.loc[0.01, "test_accuracy"] <= 1
    assert results.loc[1e4, "status"] == "diverged" and "loss became" in results.loc[1e4, "error"]
    assert f"{sweep_dir / '1'} [" in result.stderr and "1 of 2 jobs" in result.stderr
    assert "learning_rate=10000.0" in result.stderr and "diverged" in result.stderr
    accuracy = pd.read_csv(sweep_dir / "accuracy.csv", index_col=0)  # only the learning rate varied: it is the rows
    assert accuracy["test_accuracy"].isna().tolist() == [False, True]


@pytest.mark.slow
def test_submitit_local_aggregates_every_job(tmp_path, mnist_path):
    """The jobs of submitit's local launcher, each in a process of its own, all reach the tables. (joblib's: a race
    hands it its rounds, tests/test_race.py.)"""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = run_cli("-m", "hydra/launcher=submitit_local", "model=simple_rnn,gru", "model.units=8", *TINY,
                     cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = _results(_sweep_dir(tmp_path))
    assert sorted(results["cell"]) == ["gru", "simple_rnn"] and (results["status"] == "ok").all()
    assert (results["threads"] == 1).all()  # two jobs side by side on this many cores: a share each
    assert "2 of 2 jobs ok" in result.stdout


@pytest.mark.parametrize(("name", "jobs", "cells"), [("tutorial", 27, 3), ("optimizers", 12, 3)])
def test_named_grids_expand_to_every_combination(name, jobs, cells):
    hydra_cfg = compose_config(f"+sweep={name}", hydra=True).hydra
    expanded = expand_jobs([f"+sweep={name}"], True, hydra_cfg)
    assert len(expanded) == jobs == len({tuple(job) for job in expanded})
    assert len({override for job in expanded for override in job if override.startswith("model=")}) == cells


def test_the_default_sweeper_leaves_checking_each_job_to_preflight_which_refuses_a_bad_one(tmp_path):
    """`hydra/sweeper=basic` (the default) launches Hydra's grid without composing each job once more before the
    launcher composes it to run it (about 0.1 s a job): preflight has composed and validated every job by then."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.plugins import Plugins
    from hydra.types import HydraContext

    config = compose_config(hydra=True)
    sweeper = Plugins.instance().instantiate_sweeper(
        config=config, task_function=lambda cfg: None,
        hydra_context=HydraContext(config_loader=ConfigLoaderImpl(create_config_search_path(str(conf_dir()))),
                                   callbacks=None))
    bad = [["model=gru"], ["model=no_such_cell"]]
    sweeper.validate_batch_is_legal(bad)  # Hydra's own sweeper composes each and raises on the second
    with pytest.raises(ConfigError, match="no_such_cell"):
        preflight(["-m", "model=gru,no_such_cell", f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert not (tmp_path / "sweep").exists()


def test_a_bad_value_inside_a_grid_exits_2_before_training(tmp_path):
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "bad.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n      model.units: 16,0\n"
    )
    result = run_probe("-m", f"--config-dir={tmp_path}", "+sweep=bad", cwd=tmp_path)
    assert result.returncode == 2 and "model.units=0" in result.stderr and "Traceback" not in result.stderr
    assert "TENSORFLOW-NOT-IMPORTED" in result.stdout and not (tmp_path / "outputs").exists()


def test_a_sweeps_size_is_read_again_when_its_multirun_yaml_changes(tmp_path):
    """Every job asks how many jobs its sweep has (for its progress line): the grid is expanded once per version of
    multirun.yaml, and a resumed sweep with another grid gets its own count."""
    from omegaconf import OmegaConf

    from rnn_sweep.launch.preflight import sweep_size

    hydra_cfg = compose_config("hydra.sweep.dir=" + str(tmp_path), hydra=True).hydra
    for grid, jobs in ((["model=gru,lstm"], 2), (["model=gru,lstm", "model.units=4,8,16"], 6), (["seed=1,2,3"], 3)):
        OmegaConf.save({"hydra": {**OmegaConf.to_container(hydra_cfg), "overrides": {"task": grid}}},
                       tmp_path / "multirun.yaml")
        assert sweep_size(hydra_cfg) == jobs
