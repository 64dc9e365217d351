"""The race sweeper (hydra/sweeper=race): its grid and job numbers, its checks before training, a real race that
drops a clearly worse setting after round 1 and resumes after being killed without launching anything again, and a
real race against a baseline sweep whose verdicts compare --fail-if-worse takes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.cli import run_cli
from helpers.config import compose_config
from helpers.runs import RACE_TINY
from omegaconf import OmegaConf

from rnn_sweep import cli
from rnn_sweep.record.columns import COLUMNS
from rnn_sweep.stats.sequential import Design, race, race_against
from rnn_sweep.sweep.race import KILL_AFTER_ROUND, closing_answer, race_design, race_frame, race_grid, run_race

MIN_SEEDS, MAX_SEEDS = 3, 4
# A clearly worse setting (a learning rate that learns nothing in one epoch) beside one that learns.
RATES = "optimizer.learning_rate=1e-6,0.01"
RACE = ("-m", "hydra/sweeper=race", f"hydra.sweeper.min_seeds={MIN_SEEDS}", f"hydra.sweeper.max_seeds={MAX_SEEDS}",
        RATES, *RACE_TINY)
# The line Hydra's launcher logs for each job handed to it: `#<job number> : <overrides>`.
LAUNCHED = re.compile(r"\[HYDRA\]\s+#(\d+) : ")


def test_the_grid_is_the_basic_sweepers_and_job_numbers_are_seed_index_times_settings_plus_setting() -> None:
    grid = race_grid(["model=gru,lstm", "model.units=8,16", "seed=5", "train.epochs=1"])
    assert len(grid.settings) == 4 and grid.base_seed == 5
    assert all("train.epochs=1" in setting and not any(o.startswith("seed=") for o in setting)
               for setting in grid.settings)
    number, overrides = grid.job(setting=2, seed_index=3)
    assert number == 3 * 4 + 2 and overrides == [*grid.settings[2], "seed=8"]
    assert set(grid.columns()) == {"cell", "units"}  # only what differs, named as in results.csv


def test_hydra_sweeper_race_composes_with_its_documented_defaults() -> None:
    """`hydra/sweeper=race` alone: min_seeds 3, max_seeds 10, alpha 0.05, margin 0.002, no budget, no baseline, and
    the race it runs is the design the simulation tests check (Design's defaults)."""
    sweeper = compose_config("hydra/sweeper=race", hydra=True).hydra.sweeper
    assert sweeper._target_.endswith("RaceSweeper")
    keys = ("min_seeds", "max_seeds", "alpha", "margin", "max_runs", "against")
    assert {key: sweeper[key] for key in keys} == {"min_seeds": 3, "max_seeds": 10, "alpha": 0.05, "margin": 0.002,
                                                  "max_runs": None, "against": None}
    assert race_design(sweeper) == Design()


def test_race_csv_reads_back_with_plain_pandas(tmp_path: Path) -> None:
    grid = race_grid(["optimizer.learning_rate=0.001,0.01"])
    result = race([[0.50, 0.51, 0.49], [0.90, 0.91, 0.89]], Design(min_seeds=3, max_seeds=4))
    (tmp_path / "race.csv").write_text(race_frame(result, grid).to_csv(index=False))
    frame = pd.read_csv(tmp_path / "race.csv")
    assert list(frame.columns) == ["round", "learning_rate", "n", "mean", "ci_low", "ci_high", "state"]
    assert frame.set_index("learning_rate")["state"].to_dict() == {0.001: "worse", 0.01: "leader"}
    assert np.allclose(frame["mean"], [0.50, 0.90]) and (frame["ci_low"] < frame["mean"]).all()
    answer = closing_answer(result, grid, Design(min_seeds=3, max_seeds=4))
    assert "leader: learning_rate=0.01" in answer and "dropped (worse): learning_rate=0.001" in answer
    assert "runs: 6 of the 8" in answer


def test_race_csv_and_the_closing_answer_name_one_leader_when_the_lead_changes_hands() -> None:
    """Setting 0.01 leads round 1, 0.001 overtakes it in round 2 without either shown worse: race.csv has one
    leader per round, and the closing answer names the last one alone."""
    grid = race_grid(["optimizer.learning_rate=0.001,0.01"])
    design = Design(min_seeds=3, max_seeds=4, margin=0.0)
    result = race([[0.89, 0.90, 0.91, 0.94], [0.90, 0.91, 0.92, 0.89]], design)
    frame = race_frame(result, grid)
    leaders = frame[frame["state"] == "leader"]
    assert leaders[["round", "learning_rate"]].values.tolist() == [[1, "0.01"], [2, "0.001"]]
    answer = closing_answer(result, grid, design)
    assert "leader: learning_rate=0.001 (0.9100, n=4)\n" in answer and "undecided: learning_rate=0.01" in answer


def test_a_setting_tied_with_an_earlier_leader_is_named_against_that_leader() -> None:
    """0.001 ties with round 1's leader 0.01 and stops; 0.1 takes the lead in round 2. Nothing showed 0.001 within
    the margin of 0.1, so the closing answer says whose margin it was within."""
    grid = race_grid(["optimizer.learning_rate=0.001,0.01,0.1"])
    design = Design(min_seeds=3, max_seeds=5, margin=0.05)
    result = race([[0.896, 0.893, 0.902, 0.903, 0.897], [0.891, 0.902, 0.905, 0.899, 0.9],
                   [0.9, 0.872, 0.92, 0.908, 0.886]], design)
    answer = closing_answer(result, grid, design)
    assert "leader: learning_rate=0.1 (0.9000, n=4)\n" in answer, answer
    assert "learning_rate=0.001 (0.8970, n=3, against round 1's leader learning_rate=0.01)" in answer, answer
    assert "learning_rate=0.01 (0.8993, n=4)\n" in answer, answer  # tied with this round's leader: no one named


@pytest.mark.parametrize(("override", "named"), [
    ("hydra.sweeper.min_seeds=1", "min_seeds=1"),
    ("hydra.sweeper.max_seeds=2", "max_seeds=2 is below min_seeds=3"),
    ("hydra.sweeper.alpha=1.5", "alpha=1.5"),
    ("hydra.sweeper.margin=-0.01", "margin=-0.01"),
    ("hydra.sweeper.max_runs=0", "max_runs=0"),
    ("hydra.sweeper.max_runs=5", "max_runs=5 is fewer than round 1 takes: min_seeds=3 x 2 settings = 6"),
    ("hydra.sweeper.against=/nonexistent/sweep", "against=/nonexistent/sweep"),
    ("seed=0,1", "a race chooses the seeds"),
])
def test_a_bad_race_key_exits_2_before_training(tmp_path: Path, capsys, monkeypatch, override: str,
                                                named: str) -> None:
    monkeypatch.chdir(tmp_path)
    code = cli.run(["-m", "hydra/sweeper=race", "model.units=8,16", override, f"hydra.sweep.dir={tmp_path / 'race'}"])
    error = capsys.readouterr().err
    assert code == 2 and named in " ".join(error.split()), error
    assert not list(tmp_path.rglob("result.json"))


def test_a_baseline_without_every_setting_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    baseline = tmp_path / "baseline" / "0"
    baseline.mkdir(parents=True)
    record = {**dict.fromkeys(COLUMNS), "status": "ok", "test_accuracy": 0.5, "run_dir": str(baseline),
              "overrides": ["model.units=8", "seed=0"]}
    (baseline / "result.json").write_text(json.dumps(record))
    monkeypatch.chdir(tmp_path)
    code = cli.run(["-m", "hydra/sweeper=race", "model.units=8,16", f"hydra.sweeper.against={tmp_path / 'baseline'}",
                    f"hydra.sweep.dir={tmp_path / 'race'}"])
    error = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "fewer than 2 ok runs of 2 setting(s)" in error, error


class _Returned:
    """What a launcher gives back for one job: the job's record as its return value."""

    def __init__(self, record: dict) -> None:
        self.return_value = record


def test_a_resumed_race_hands_the_launcher_only_the_jobs_without_a_finished_result(tmp_path: Path, capsys) -> None:
    """A race stopped in the middle of round 1 with jobs 0 and 2 finished (setting 0's two seeds): run again, it
    launches jobs 1 and 3 alone and replays round 1 from all four results, each setting's in seed order."""
    sweeper = OmegaConf.create({"min_seeds": 2, "max_seeds": 2, "alpha": 0.05, "margin": 0.002, "max_runs": None,
                                "against": None})
    grid = race_grid(["optimizer.learning_rate=0.001,0.01"])
    done = {tuple(grid.job(0, index)[1]): {"status": "ok", "test_accuracy": value}
            for index, value in enumerate((0.50, 0.52))}
    handed: list[tuple[int, list[list[str]]]] = []

    def launch(jobs: list[list[str]], initial_job_idx: int) -> list[_Returned]:
        handed.append((initial_job_idx, jobs))
        accuracy = {1: 0.90, 3: 0.92}.get(initial_job_idx, 0.0)
        return [_Returned({"status": "ok", "test_accuracy": accuracy}) for _ in jobs]

    run_race(sweeper, tmp_path, ["optimizer.learning_rate=0.001,0.01"], launch,
             lambda overrides: done.get(tuple(overrides)))
    assert handed == [(1, [grid.job(1, 0)[1]]), (3, [grid.job(1, 1)[1]])]
    frame = pd.read_csv(tmp_path / "race.csv").set_index("learning_rate")
    assert frame["n"].tolist() == [2, 2] and frame["mean"].tolist() == pytest.approx([0.51, 0.91])
    assert "resumed: 2 of these runs had finished in this folder before" in " ".join(capsys.readouterr().out.split())


def _trained(sweep: Path) -> dict[str, tuple[float, str]]:
    """Each job's result.json: when it was written and what it holds."""
    return {path.parent.name: (path.stat().st_mtime, path.read_text()) for path in sweep.glob("*/result.json")}


def _launched(run: subprocess.CompletedProcess) -> list[int]:
    """The numbers of the jobs the command handed to the launcher, from the launcher's own log lines."""
    return sorted(int(number) for number in LAUNCHED.findall(run.stdout + run.stderr))


@pytest.mark.slow
def test_a_race_drops_a_clearly_worse_setting_after_round_1_and_resumes_without_launching_it_again(
        tmp_path: Path, mnist_path: str) -> None:
    sweep = tmp_path / "race"
    killed = run_cli(*RACE, f"hydra.sweep.dir={sweep}", cwd=tmp_path, data=mnist_path, env={KILL_AFTER_ROUND: "1"})
    assert killed.returncode == -9, killed.stderr[-3000:]
    after_round_1 = _trained(sweep)
    assert sorted(after_round_1, key=int) == [str(n) for n in range(2 * MIN_SEEDS)]  # round 1: both settings x 3
    assert _launched(killed) == list(range(2 * MIN_SEEDS))

    finished = run_cli(*RACE, f"hydra.sweep.dir={sweep}", cwd=tmp_path, data=mnist_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert _launched(finished) == []  # round 1 had finished: none of its jobs went to the launcher again
    assert "skipped:" not in finished.stdout
    now = _trained(sweep)
    assert {job: now[job] for job in after_round_1} == after_round_1  # nothing finished was trained again

    records = [json.loads(text) for _, text in now.values()]
    rates = [next(o for o in record["overrides"] if o.startswith("optimizer.learning_rate")) for record in records]
    assert rates.count("optimizer.learning_rate=1e-06") == MIN_SEEDS  # dropped after round 1
    assert len(records) < MAX_SEEDS * 2

    frame = pd.read_csv(sweep / "race.csv")
    assert list(frame.columns) == ["round", "learning_rate", "n", "mean", "ci_low", "ci_high", "state"]
    first = frame[frame["round"] == 1].set_index("learning_rate")["state"]
    assert first[1e-6] == "worse" and first[0.01] == "leader"
    answer = " ".join(finished.stdout.split())
    assert "dropped (worse): learning_rate=1e-06" in answer and f"of the {MAX_SEEDS * 2} a fixed grid" in answer
    assert f"resumed: {2 * MIN_SEEDS} of these runs had finished in this folder before" in answer
    assert "Race" in (sweep / "report.html").read_text()


@pytest.mark.slow
def test_a_race_hands_each_round_to_the_joblib_launcher(tmp_path: Path, mnist_path: str) -> None:
    """Two learning rates 1% apart, whose runs differ far less than the seeds do, and margin 0: nothing can be shown
    worse or tied, so the race runs to max_seeds, and joblib's workers train round 1 (jobs 0-3) and round 2 (jobs 4
    and 5, the third seed of each) in two launches, with a share of the cores each. (A grid sweep's jobs through
    joblib are tested as they stop: tests/test_signals.py, tests/test_faults.py.)"""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep = tmp_path / "race"
    finished = run_cli("-m", "hydra/sweeper=race", "hydra.sweeper.min_seeds=2", "hydra.sweeper.max_seeds=3",
                       "hydra.sweeper.margin=0", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                       "optimizer.learning_rate=0.01,0.0101", *RACE_TINY,
                       f"hydra.sweep.dir={sweep}", cwd=tmp_path, data=mnist_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    # joblib's launcher logs each batch's jobs numbered from 0; the job folders show their real numbers
    assert re.findall(r"Launching (\d+) jobs, 2 at once", finished.stdout + finished.stderr) == ["4", "2"]
    records = {int(path.parent.name): json.loads(path.read_text()) for path in sweep.glob("*/result.json")}
    assert sorted(records) == list(range(6)) and {record["status"] for record in records.values()} == {"ok"}
    assert [record["seed"] for _, record in sorted(records.items())] == [0, 0, 1, 1, 2, 2]
    assert {record["threads"] for record in records.values()} == {1}  # two jobs side by side: a core each
    frame = pd.read_csv(sweep / "race.csv")
    assert frame["round"].tolist() == [1, 1, 2, 2] and frame["n"].tolist() == [2, 2, 3, 3]
    assert sorted(frame[frame["round"] == 2]["state"]) == ["leader", "undecided"]
    answer = " ".join(finished.stdout.split())
    assert "Race over after 2 round(s): max_seeds=3 reached." in answer and "runs: 6 of the 6" in answer


VERDICTS = ("better", "worse", "equivalent", "undecided")


@pytest.mark.slow
def test_a_race_against_a_baseline_sweep_gives_each_setting_a_verdict_that_compare_takes(
        tmp_path: Path, mnist_path: str, capsys) -> None:
    """A tiny baseline sweep (2 seeds per setting), then the same settings raced against it on other seeds: every
    setting ends with a verdict in race.csv and in the closing answer, and compare --fail-if-worse on the race exits
    as those verdicts say."""
    baseline, sweep = tmp_path / "baseline", tmp_path / "race"
    trained = run_cli("-m", RATES, *RACE_TINY, "seed=10", "seeds=2", f"hydra.sweep.dir={baseline}", cwd=tmp_path,
                      data=mnist_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    against = ("-m", "hydra/sweeper=race", "hydra.sweeper.min_seeds=2", "hydra.sweeper.max_seeds=3",
               f"hydra.sweeper.against={baseline}", RATES, *RACE_TINY, f"hydra.sweep.dir={sweep}")
    finished = run_cli(*against, cwd=tmp_path, data=mnist_path)
    assert finished.returncode == 0, finished.stderr[-3000:]

    frame = pd.read_csv(sweep / "race.csv")
    final = frame[frame["round"] == frame["round"].max()].set_index("learning_rate")
    assert sorted(final.index) == [1e-6, 0.01] and set(final["state"]) <= set(VERDICTS), final
    assert (frame[frame["round"] == 1]["n"] == 2).all()
    assert len(_launched(finished)) == final["n"].sum()  # every run ended ok
    answer = finished.stdout
    for verdict in VERDICTS:
        assert (f"{verdict}: none" in answer) == (verdict not in set(final["state"])), answer

    capsys.readouterr()
    code = cli.run(["compare", str(baseline), str(sweep), "--fail-if-worse", "0"])
    said = " ".join(capsys.readouterr().out.split())
    assert f"the race {sweep} against its baseline decides" in said, said
    assert code == int((final["state"] == "worse").any())


def _sweep_folder(folder: Path, accuracies: dict[str, list[float]], against: Path | None = None) -> None:
    """A sweep folder as rnn-sweep leaves it: one result.json per job, multirun.yaml naming the sweeper's keys."""
    job = 0
    for rate, values in accuracies.items():
        for seed, value in enumerate(values):
            run = folder / str(job)
            run.mkdir(parents=True)
            record = {**dict.fromkeys(COLUMNS), "run_dir": str(run), "status": "ok", "test_accuracy": value,
                      "cell": "lstm", "units": 16, "learning_rate": float(rate), "seed": seed, "data": "mnist",
                      "overrides": [f"optimizer.learning_rate={rate}", f"seed={seed}"]}
            (run / "result.json").write_text(json.dumps(record))
            job += 1
    sweeper = {"_target_": "hydra_plugins.rnn_sweep_race.race_sweeper.RaceSweeper", "against": str(against)} \
        if against else {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"}
    (folder / "multirun.yaml").write_text(json.dumps({"hydra": {"sweeper": sweeper, "overrides": {"task": []}}}))


@pytest.mark.parametrize(("new", "code", "said"), [
    ([0.50, 0.51, 0.49, 0.50], 1, "1 setting(s) worse: learning_rate=0.001"),
    ([0.80, 0.81, 0.79, 0.80], 0, "no setting is worse"),
])
def test_compare_fail_if_worse_takes_a_race_against_a_baseline_at_its_word(tmp_path: Path, capsys, new: list[float],
                                                                           code: int, said: str) -> None:
    """The race's verdict decides, whatever a fresh test of the same runs and X would say."""
    baseline = {"0.001": [0.80, 0.81, 0.79, 0.80], "0.01": [0.90, 0.91, 0.89, 0.90]}
    _sweep_folder(tmp_path / "a", baseline)
    _sweep_folder(tmp_path / "b", {"0.001": new, "0.01": baseline["0.01"]}, against=tmp_path / "a")
    grid = race_grid(["optimizer.learning_rate=0.001,0.01"])
    design = Design(min_seeds=3, max_seeds=4)
    raced = race_against([new, baseline["0.01"]], list(baseline.values()), design)
    (tmp_path / "b" / "race.csv").write_text(race_frame(raced, grid).to_csv(index=False))
    assert cli.run(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--fail-if-worse", "0.5"]) == code
    assert said in " ".join(capsys.readouterr().out.split())


def test_report_shows_a_race_round_by_round(tmp_path: Path) -> None:
    """`rnn-sweep report` on a race folder: report.html gets the Race section with each round's interval and state,
    and the sweep gets the race's interval plot."""
    values = {"0.001": [0.50, 0.51, 0.49], "0.01": [0.90, 0.91, 0.89]}
    _sweep_folder(tmp_path, values)
    result = race(list(values.values()), Design(min_seeds=3, max_seeds=4))
    (tmp_path / "race.csv").write_text(race_frame(result, race_grid(["optimizer.learning_rate=0.001,0.01"]))
                                       .to_csv(index=False))
    assert cli.run(["report", str(tmp_path), "--html"]) == 0
    page = (tmp_path / "report.html").read_text()
    race_section = page.split("<h2>Race</h2>", 1)[1].split("<h2>", 1)[0]
    assert "learning_rate=0.001" in race_section and "0.5000 [" in race_section and "worse" in race_section
    assert "round 1" in race_section and "leader" in race_section
    assert (tmp_path / "race_intervals.png").stat().st_size > 0
