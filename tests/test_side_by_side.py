"""`train.parallel_jobs`: a grid sweep's small CPU jobs trained side by side, one thread each, with the same results.

What `auto` chooses is decided in the command from the composed jobs (rnn_sweep.sweep.parallel), so those cases need
no training; one real pair of sweeps shows that the jobs do run side by side and learn exactly what they learn one at
a time on every core."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_cli, run_probe
from helpers.config import compose_config, typed_config

from rnn_sweep.errors import ConfigError
from rnn_sweep.sweep import longest_first
from rnn_sweep.sweep.parallel import MIN_SWEEP_STEPS, CpuSample, SideBySide, idle_cores, side_by_side

# Five seeds of GRU-32 on 6,000 images for 2 epochs (the benchmark's seeds grid): 86 steps a job, 430 in all.
SEEDS_GRID = ("model=gru", "model.units=32", "data.limit_train=6000", "train.epochs=2", "train.device=cpu")


def _decide(*settings: str, seeds: int = 5, hydra: tuple[str, ...] = (), named: tuple[str, ...] = (),
            cores: int = 2, idle: float | None = None) -> SideBySide | None:
    jobs = [typed_config(*SEEDS_GRID, *settings, f"seed={seed}") for seed in range(seeds)]
    return side_by_side(jobs, compose_config(*hydra, hydra=True).hydra, named, cores,
                        cores if idle is None else idle)


def test_auto_trains_small_cpu_jobs_one_per_core_with_their_share_of_the_threads():
    chosen = _decide()
    assert chosen == SideBySide(jobs=2, threads=1, chosen=True)
    assert chosen.line() == ("Training 2 jobs side by side, 1 thread each (train.parallel_jobs=auto: small models, 2 "
                             "idle CPU cores); train.parallel_jobs=1 trains them one at a time.")
    assert chosen.overrides() == ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    assert _decide(cores=4) == SideBySide(jobs=4, threads=1, chosen=True)
    # no more workers than jobs, and more threads each
    assert _decide("train.epochs=4", seeds=3, cores=8) == SideBySide(jobs=3, threads=2, chosen=True)
    assert _decide("model=lstm", "model.units=128", "model.batch_shards=1") is not None  # shards fixed by hand


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        (("train.parallel_jobs=1",), "turned off"),
        (("train.device=gpu",), "a GPU"),
        (("train.threads=2",), "threads chosen by hand"),
        # 1,055 steps of an LSTM with 65,536 recurrent weights: auto splits its batches into one shard per thread,
        # whose sums round differently, so one thread would change its losses in their last digits
        (("model=lstm", "model.units=128", "data.limit_train=null", "train.epochs=5", "train.batch_size=256"),
         "batch shards that follow the threads"),
        (("data.limit_train=300", "train.epochs=1"), "too little training to earn back a second process"),
    ],
)
def test_auto_leaves_jobs_one_at_a_time(settings, why):
    assert _decide(*settings) is None, why


def test_auto_needs_two_idle_cores_two_jobs_and_steps_enough():
    assert _decide(cores=1) is None
    assert _decide(idle=1.4) is None  # other work keeps more than half a core of two busy
    assert _decide(idle=1.6) == SideBySide(jobs=2, threads=1, chosen=True)
    assert _decide(cores=4, idle=3.2) == SideBySide(jobs=3, threads=1, chosen=True)
    assert _decide("train.parallel_jobs=2", idle=0) == SideBySide(jobs=2, threads=1, chosen=False)  # as asked
    assert _decide(seeds=1) is None
    per_job = 86
    assert _decide(seeds=-(-MIN_SWEEP_STEPS // per_job)) is not None
    assert _decide(seeds=MIN_SWEEP_STEPS // per_job) is None


@pytest.mark.parametrize(
    ("hydra", "named"),
    [
        (("hydra/launcher=joblib",), ("hydra/launcher",)),
        (("hydra/launcher=basic",), ("hydra/launcher",)),
        (("hydra/launcher=submitit_local",), ("hydra/launcher",)),
        (("hydra/sweeper=race",), ("hydra/sweeper",)),
    ],
)
def test_a_launcher_or_sweeper_of_the_users_own_is_kept(hydra, named):
    assert _decide(hydra=hydra, named=named) is None
    with pytest.raises(ConfigError, match="train.parallel_jobs=2 trains a grid sweep's jobs side by side"):
        _decide("train.parallel_jobs=2", hydra=hydra, named=named)


def test_a_number_trains_that_many_at_once_whatever_the_jobs():
    assert _decide("train.parallel_jobs=2", "data.limit_train=300", "train.epochs=1") == SideBySide(2, 1, False)
    assert _decide("train.parallel_jobs=3", seeds=2, cores=8) == SideBySide(2, 4, False)
    assert _decide("train.parallel_jobs=3", seeds=1) is None


def test_cores_that_other_processes_keep_busy_do_not_count_idle_but_this_ones_own_use_does(monkeypatch):
    """Samples one second apart on a 2-core machine that was busy for 1.5 core-seconds in all: what this process used
    itself is left out of the other work, and too short a watch tells nothing (every core counts idle)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    since = CpuSample(machine=100.0, own=10.0, at=50.0)

    def sampled(machine: float, own: float, at: float = 51.0) -> float:
        monkeypatch.setattr(CpuSample, "now", classmethod(lambda cls: CpuSample(machine, own, at)))
        return idle_cores(since, 2)

    assert sampled(101.5, 10.0) == pytest.approx(0.5)  # all of it other work's
    assert sampled(101.5, 10.5) == pytest.approx(1.0)  # a third of it this process's own
    assert sampled(101.5, 11.5) == pytest.approx(2.0)  # all of it this process's own
    assert sampled(103.0, 10.0) == 0.0  # more than the cores: none idle
    assert sampled(101.5, 10.0, at=50.1) == 2.0  # a tenth of a second tells too little


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat: elsewhere every core counts idle")
def test_the_machines_cpu_time_is_read_from_proc_stat():
    first = CpuSample.now()
    subprocess.run([sys.executable, "-c", "sum(range(3_000_000))"], check=True)
    later = CpuSample.now()
    assert first.machine is not None and later.machine is not None and later.machine > first.machine > 0
    assert later.own >= first.own >= 0 and later.at > first.at


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("train.parallel_jobs=0",), "Invalid value train.parallel_jobs=0: it must be auto or an int >= 1"),
        (("train.parallel_jobs=two",), "it must be auto or an int >= 1"),
        (("train.parallel_jobs=1,2",), "takes one value, not several (1, 2)"),
        (("train.parallel_jobs=2", "hydra/launcher=joblib"), "the command names a launcher"),
    ],
)
def test_bad_values_are_refused_before_anything_trains(args, named, tmp_path):
    result = run_probe("-m", "model=gru", "seed=0,1", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr
    assert "TENSORFLOW-NOT-IMPORTED" in result.stdout and not (tmp_path / "outputs").exists()


# Two sizes of a tiny GRU with the default settings (no deterministic ops): job 1 has twice the units of job 0.
TWO_SIZES = ("-m", "model=gru", "model.units=8,16", "data.limit_train=400", "data.limit_test=200", "train.epochs=2",
             "train.batch_size=64", "train.save_model=false", "train.device=cpu")
SCORES = ["loss", "accuracy", "val_loss", "val_accuracy"]
# The same grid trained three ways: side by side (1 thread each), one at a time on every core in grid order, and with
# one joblib worker, which trains them in the order the launcher hands them out.
WAYS = {"side_by_side": ("train.parallel_jobs=2",), "one_at_a_time": ("train.parallel_jobs=1",),
        "one_worker": ("hydra/launcher=joblib", "hydra.launcher.n_jobs=1")}


@pytest.mark.slow
def test_jobs_side_by_side_learn_what_they_learn_one_at_a_time_and_the_most_work_starts_first(tmp_path, mnist_path):
    """The same config and seed give the same history, test scores and predictions, trained on one thread beside
    another job or alone on every core; the launcher hands out the larger job first, each still in the folder of its
    number."""
    said = {}
    for way, settings in WAYS.items():
        result = run_cli(*TWO_SIZES, *settings, f"hydra.sweep.dir={tmp_path / way}", cwd=tmp_path, data=mnist_path)
        assert result.returncode == 0, result.stderr[-3000:]
        said[way] = result.stdout
    assert "Training 2 jobs side by side, 1 thread each (train.parallel_jobs=2); train.parallel_jobs=1 trains them " \
           "one at a time." in said["side_by_side"]
    assert "side by side" not in said["one_at_a_time"]
    assert "Launching 2 jobs, 2 at once: this process and 1 joblib worker" in said["side_by_side"]
    records = {way: [json.loads((tmp_path / way / job / "result.json").read_text()) for job in ("0", "1")]
               for way in WAYS}
    for job in (0, 1):
        record, alone, one_worker = (records[way][job] for way in WAYS)
        assert record["threads"] == 1 and alone["threads"] != 1  # one thread beside the other; all cores
        assert record["status"] == alone["status"] == one_worker["status"] == "ok"
        assert record["config_hash"] == alone["config_hash"] == one_worker["config_hash"]
        assert (record["test_accuracy"], record["test_loss"]) == (alone["test_accuracy"], alone["test_loss"])
        histories = [pd.read_csv(tmp_path / way / str(job) / "history.csv")[SCORES] for way in WAYS]
        predictions = [np.load(tmp_path / way / str(job) / "test_predictions.npy") for way in WAYS]
        for history, prediction in zip(histories[1:], predictions[1:], strict=True):
            pd.testing.assert_frame_equal(histories[0], history, check_exact=True)
            np.testing.assert_array_equal(predictions[0], prediction)
    small, large = records["one_worker"]
    assert (small["units"], large["units"]) == (8, 16)
    assert large["first_step_at"] < small["first_step_at"]
    assert records["one_at_a_time"][0]["first_step_at"] < records["one_at_a_time"][1]["first_step_at"]
    multirun = (tmp_path / "side_by_side" / "multirun.yaml").read_text()
    assert "hydra/launcher=joblib" in multirun and "hydra.launcher.n_jobs=2" in multirun


def test_the_most_work_goes_first_and_equal_or_unknown_jobs_keep_the_grid_order():
    grid = [["model=gru", "model.units=32"], ["model=gru", "model.units=128"], ["model=lstm", "model.units=32"],
            ["model=lstm", "model.units=128"]]
    settings = ("data.limit_train=6000", "train.epochs=2")
    longest_first.expect((job + ["hydra.sweep.dir=x"], typed_config(*job, *settings)) for job in grid)
    assert longest_first.order(grid) == [3, 1, 2, 0]  # LSTM has four gates to GRU's three
    assert longest_first.order(grid[::-1]) == [0, 2, 1, 3]
    assert longest_first.order([*grid, ["model=gru", "model.units=64"]]) == [0, 1, 2, 3, 4]  # one not checked
    seeds = [["model=gru", f"seed={seed}"] for seed in range(3)]
    longest_first.expect((job, typed_config(*job, *settings)) for job in seeds)
    assert longest_first.order(seeds) == [0, 1, 2]


def test_preflight_notes_the_work_of_a_grid_and_of_nothing_a_race_chooses(tmp_path, mnist_path, monkeypatch):
    from rnn_sweep.launch.preflight import preflight

    monkeypatch.setenv("RNN_SWEEP_DATA", str(mnist_path))
    jobs = [["model.units=8"], ["model.units=64"]]
    preflight(["-m", "model.units=8,64", f"hydra.sweep.dir={tmp_path / 'grid'}"])
    assert longest_first.order(jobs) == [1, 0]
    preflight(["-m", "hydra/sweeper=race", "model.units=8,64", f"hydra.sweep.dir={tmp_path / 'race'}"])
    assert longest_first.order(jobs) == [0, 1]  # a race hands the launcher its own choices, in its own order


@pytest.mark.parametrize(("more", "less"), [
    (("train.epochs=4",), ("train.epochs=2",)),
    (("data.limit_train=6000",), ("data.limit_train=3000",)),
    (("model.layers=2",), ()),
    (("model.bidirectional=true",), ()),
    (("data.sequence=pixels",), ()),  # 784 steps of one pixel against 28 of 28
])
def test_more_steps_images_layers_or_directions_are_more_work(more, less):
    base = ("model=gru", "model.units=32", "data.limit_train=3000", "train.epochs=2")
    assert longest_first.work(typed_config(*base, *more)) > longest_first.work(typed_config(*base, *less))


# The sweep's end in a fresh process: the report's modules imported while side-by-side jobs train elsewhere, or not.
_REPORT_IMPORT_PROBE = """
import sys
import pickle
from omegaconf import OmegaConf
from rnn_sweep.sweep import callback
from rnn_sweep.sweep.callback import REPORT_MODULE, AggregateSweep

launcher, sweep_dir = sys.argv[1:]
aggregate = AggregateSweep()
hydra = {"sweep": {"dir": sweep_dir}, "launcher": {"_target_": launcher}}
aggregate.on_multirun_start(OmegaConf.create({"hydra": hydra}))
pickle.dumps(aggregate)  # as a launcher sends it to its workers with each job
if callback._report_import is not None:
    callback._report_import.join()
print(REPORT_MODULE in sys.modules)
"""


@pytest.mark.parametrize(("launcher", "imported"), [
    ("hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher", "True"),
    ("hydra_plugins.rnn_sweep_joblib.joblib_launcher.JoblibLauncher", "False"),
    ("hydra._internal.core_plugins.basic_launcher.BasicLauncher", "False"),
])
def test_the_report_is_imported_while_jobs_train_in_other_processes_and_not_before_jobs_of_its_own(
        tmp_path, launcher, imported):
    """Where the launching process only waits for its jobs (submitit's), it imports the report's modules (over a
    second) meanwhile, so the sweep's end does not; where it trains jobs itself (one at a time, or one share of those
    side by side), not before them: the import would hold up their set-up."""
    probe = subprocess.run([sys.executable, "-c", _REPORT_IMPORT_PROBE, launcher, str(tmp_path / "sweep")],
                           capture_output=True, text=True, timeout=120, check=False)
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.strip() == imported
