"""The bookkeeping of resume, as a state machine: any sequence of sweep commands on one folder (values added,
removed, reordered, seed counts changed, commands killed mid-way) leaves exactly one finished row per identity,
trains nothing twice and never writes over a record.

A command here does what Hydra's basic launcher and rnn_sweep.launch.job do for each job, in their order: choose the job
folder through the `rnn_sweep.job_dir` resolver, save the job's config in `.hydra/`, skip the job when its folder
holds a finished result, else train. Training is a stand-in that writes a real record (new_record, write_result),
so the test runs in seconds; tests/test_sweep.py runs the same growth through the real CLI and real training.
"""

from __future__ import annotations

import functools
import itertools
import json
import shutil
import sys
import tempfile
from pathlib import Path

from helpers.config import compose_config
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from omegaconf import OmegaConf, open_dict

from rnn_sweep.config.validate import validate
from rnn_sweep.record.columns import HYDRA_DIR, RESULT_FILE
from rnn_sweep.record.identity import config_hash
from rnn_sweep.record.result_files import new_record, scan_results, write_result
from rnn_sweep.report.tables import results_frame
from rnn_sweep.sweep.resume import finished_result, job_dir

CELLS = ("gru", "lstm", "simple_rnn")
UNITS = (4, 8)


@functools.cache
def cell_config(cell: str):
    return compose_config(f"model={cell}")


@functools.cache
def job_config(cell: str, units: int, seed: int):
    """The config `model=CELL model.units=UNITS seed=SEED` composes, and its validated form."""
    cfg = cell_config(cell).copy()
    cfg.model.units, cfg.seed = units, seed
    return cfg, validate(cfg)


class SweepCommands(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sweep = Path(tempfile.mkdtemp(prefix="resume-"))
        self.trained: dict[str, int] = {}  # identity -> trainings that ran to their record
        self.wanted: set[str] = set()  # identities of every job a command reached and did not kill
        self.seen: dict[Path, tuple[str, str, str]] = {}  # folder -> (identity, status, record text) once written

    def teardown(self) -> None:
        shutil.rmtree(self.sweep, ignore_errors=True)

    @rule(cells=st.lists(st.sampled_from(CELLS), min_size=1, max_size=3, unique=True),
          units=st.lists(st.sampled_from(UNITS), min_size=1, max_size=2, unique=True),
          seeds=st.integers(1, 3), killed_at=st.none() | st.integers(0, 17))
    def sweep_command(self, cells: list[str], units: list[int], seeds: int, killed_at: int | None) -> None:
        """`rnn-sweep -m seeds=S model=CELLS model.units=UNITS hydra.sweep.dir=SWEEP`, SIGKILLed at job `killed_at`."""
        jobs = itertools.product(range(seeds), cells, units)  # the seeds first, as rnn_sweep.config.seeds puts them
        for num, (seed, cell, unit) in enumerate(jobs):
            cfg, typed = job_config(cell, unit, seed)
            root = cfg.copy()
            with open_dict(root):
                root.hydra = {"sweep": {"dir": str(self.sweep)}}
            folder = self.sweep / job_dir(num, _root_=root)
            (folder / HYDRA_DIR).mkdir(parents=True, exist_ok=True)
            OmegaConf.save(cfg, folder / HYDRA_DIR / "config.yaml")  # Hydra does this before the task starts
            if num == killed_at:
                return  # killed while training: the folder keeps .hydra/ and no result.json
            self.wanted.add(config_hash(typed))
            if finished_result(typed, folder) is None:
                self._train(typed, folder)

    def _train(self, typed, folder: Path) -> None:
        record = new_record(typed, folder, [])
        record.update(status="ok", error=None, test_accuracy=0.5, epochs_completed=typed.train.epochs)
        write_result(folder, record)
        self.trained[record["config_hash"]] = self.trained.get(record["config_hash"], 0) + 1

    @invariant()
    def nothing_trained_twice(self) -> None:
        assert all(count == 1 for count in self.trained.values()), self.trained

    @invariant()
    def no_record_written_over(self) -> None:
        for folder in sorted(path.parent for path in self.sweep.glob(f"*/{RESULT_FILE}")):
            text = (folder / RESULT_FILE).read_text()
            record = json.loads(text)
            now = (record["config_hash"], record["status"], text)
            before = self.seen.setdefault(folder, now)
            assert before[0] == now[0], f"{folder} held {before[0]}, now {now[0]}"
            assert before[1] != "ok" or before == now, f"{folder}'s ok record was written over"
        for folder in self.seen:
            assert (folder / RESULT_FILE).is_file(), f"{folder}'s record is gone"

    @invariant()
    def one_finished_row_per_identity(self) -> None:
        rows = results_frame(scan_results(self.sweep).records) if self.seen else None
        if rows is None:
            return
        assert rows["config_hash"].is_unique, rows["config_hash"].value_counts().to_dict()
        finished = set(rows.loc[rows["status"] == "ok", "config_hash"])
        assert self.wanted <= finished, self.wanted - finished


SweepCommands.TestCase.settings = settings(max_examples=10, stateful_step_count=4, deadline=None)
test_resume_bookkeeping = SweepCommands.TestCase


_opened: list[str] | None = None  # while a list, every file this process opens is noted in it


@functools.cache
def _watch_opens() -> None:
    """Note every file this process opens in `_opened` (an audit hook stays for the process: inert while None)."""

    def note(event: str, args: tuple) -> None:
        if event == "open" and _opened is not None and isinstance(args[0], (str, Path)):
            _opened.append(str(args[0]))

    sys.addaudithook(note)


def test_resolving_the_jobs_of_a_big_sweep_reads_each_record_a_bounded_number_of_times(tmp_path):
    """A sweep folder of 150 finished jobs (records written by hand, nothing trained), resumed with 40 of them and
    grown by 20 new ones that then write their records: every job goes to its folder, and the resolver reads
    result.json files a bounded number of times per job plus once per folder, not the whole folder per job."""
    global _opened
    sweep, folders, grown = tmp_path / "sweep", 150, 20
    cfg, typed = job_config("gru", 8, 0)

    def root(seed: int):
        config = cfg.copy()
        with open_dict(config):
            config.seed = seed
            config.hydra = {"sweep": {"dir": str(sweep)}}
        return config

    for seed in range(folders):
        done = typed.copy()
        done.seed = seed
        record = new_record(done, sweep / f"job-{seed}", [])
        write_result(sweep / f"job-{seed}", {**record, "status": "ok", "test_accuracy": 0.5})

    _watch_opens()
    _opened = []
    try:
        resumed = {seed: job_dir(seed, _root_=root(seed)) for seed in range(0, folders, folders // 40)}
        assert resumed == {seed: f"job-{seed}" for seed in resumed}
        for seed in range(folders, folders + grown):  # new jobs: a free folder each, found again once written
            name = job_dir(seed, _root_=root(seed))
            assert not any((sweep / name).iterdir())  # made empty, as Hydra would make it next
            done = typed.copy()
            done.seed = seed
            write_result(sweep / name, {**new_record(done, sweep / name, []), "status": "ok"})
            assert job_dir(seed, _root_=root(seed)) == name
        reads = sum(path.endswith(RESULT_FILE) for path in _opened)
    finally:
        _opened = None
    lookups = len(resumed) + 2 * grown
    assert reads <= folders + grown + 2 * lookups, f"{reads} reads of result.json for {lookups} lookups"
