"""A grid run by `rnn-sweep -m` against the same grid trained by a plain Keras loop in one Python process.

    python benchmarks/sweep_speed.py                              # small, medium, seeds and rates grids, 3 rounds
    python benchmarks/sweep_speed.py --rounds 1 --scale 0.05      # a quick smoke run
    python benchmarks/sweep_speed.py --grids seeds --rounds 5
    python benchmarks/sweep_speed.py --one-at-a-time               # also rnn-sweep with train.parallel_jobs=1

Each round runs every side of a grid one after the other (the order alternates between rounds), each in its own
process, so TensorFlow's import counts as a user would see it. rnn-sweep runs as a user runs it, with
`train.save_model=false` and no launcher named, so `train.parallel_jobs=auto` may train its jobs side by side (the
summary says how it ran them); `--one-at-a-time` adds a third side, the same command with `train.parallel_jobs=1`
(the basic launcher, one job at a time on every core). The loop builds `Sequential([Input, cell, Dense])` per job,
fits and evaluates on the same images (rnn-sweep's own splits) for the same epochs and learning rates (Adam).
Printed per grid: wall seconds of each side, the sum of the jobs' training seconds, the ratio loop / rnn-sweep
(median and range over the rounds), where rnn-sweep's wall time went, read from its result.json files and
sweep_timing.json, and how many step functions its jobs traced (3 a graph: train, evaluate, predict; jobs of one
graph in one process share them).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Grid:
    """A sweep's jobs: (cell, units, seed, learning rate), and how much data and how many epochs each trains."""

    name: str
    cells: tuple[str, ...]
    units: tuple[int, ...]
    seeds: tuple[int, ...]
    limit_train: int
    epochs: int
    learning_rates: tuple[float, ...] = (1e-3,)

    def jobs(self) -> list[tuple[str, int, int, float]]:
        return [(cell, units, seed, rate) for cell in self.cells for units in self.units for seed in self.seeds
                for rate in self.learning_rates]

    def overrides(self, scale: float) -> list[str]:
        return [f"model={','.join(self.cells)}", f"model.units={','.join(map(str, self.units))}",
                f"seed={','.join(map(str, self.seeds))}",
                f"optimizer.learning_rate={','.join(map(str, self.learning_rates))}", f"train.epochs={self.epochs}",
                f"data.limit_train={scaled(self.limit_train, scale)}", f"data.limit_test={scaled(LIMIT_TEST, scale)}"]


LIMIT_TEST = 2000
GRIDS = {
    "small": Grid("small", ("simple_rnn", "lstm", "gru"), (16, 64), (0,), 6000, 2),
    "medium": Grid("medium", ("gru", "lstm"), (32, 128), (0,), 30000, 3),
    "seeds": Grid("seeds", ("gru",), (32,), (0, 1, 2, 3, 4), 6000, 2),
    "rates": Grid("rates", ("gru",), (32,), (0,), 6000, 2, (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)),
}
KERAS_CELLS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def scaled(count: int, scale: float) -> int:
    return max(100, round(count * scale))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", default="small,medium,seeds,rates", help=f"comma-separated, of {', '.join(GRIDS)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every grid's training and test images")
    parser.add_argument("--one-at-a-time", action="store_true",
                        help="also run rnn-sweep with train.parallel_jobs=1 (its jobs one at a time)")
    parser.add_argument("--plain-loop", help=argparse.SUPPRESS)  # internal: run the plain loop for a JSON job list
    args = parser.parse_args()
    if args.plain_loop:
        plain_loop(json.loads(args.plain_loop))
        return
    print(f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    for name in args.grids.split(","):
        compare(GRIDS[name], args.rounds, args.scale, args.one_at_a_time)


# The sides of a comparison: rnn-sweep as a user runs it, the plain loop, and (asked for) rnn-sweep one job at a time.
SWEEP, LOOP, ONE_AT_A_TIME = "rnn-sweep", "loop", "rnn-sweep one at a time"


def compare(grid: Grid, rounds: int, scale: float, one_at_a_time: bool) -> None:
    """Interleaved rounds of the sides of one grid; prints each round, then the summary."""
    outcomes: dict[str, list[dict]] = {SWEEP: [], LOOP: [], **({ONE_AT_A_TIME: []} if one_at_a_time else {})}
    imports: list[float] = []  # `import tensorflow, keras` alone, once a round: what the first step is held to
    with tempfile.TemporaryDirectory() as workdir:
        for index in range(rounds):
            imports.append(import_alone())
            sides = list(outcomes) if index % 2 == 0 else list(reversed(outcomes))
            for side in sides:
                sweep_dir = Path(workdir) / f"round{index}-{side.replace(' ', '-')}"
                extra = ["train.parallel_jobs=1"] if side == ONE_AT_A_TIME else []
                outcome = run_loop(grid, scale) if side == LOOP else run_sweep(grid, scale, sweep_dir, extra)
                outcomes[side].append(outcome)
                print(f"  {grid.name} round {index + 1} {side:<9} {outcome['wall']:7.1f} s wall, "
                      f"{outcome['train']:7.1f} s training (load {os.getloadavg()[0]:.2f})", flush=True)
    sweeps, loops = outcomes[SWEEP], outcomes[LOOP]
    ratios = [loop["wall"] / sweep["wall"] for loop, sweep in zip(loops, sweeps, strict=True)]
    ran = collections.Counter(sweep["ran"] for sweep in sweeps)  # auto decides by the idle cores of each round
    print(f"{grid.name}: {len(grid.jobs())} jobs, {scaled(grid.limit_train, scale)} images, {grid.epochs} epochs; "
          f"rnn-sweep {', '.join(f'{how} in {count} of {rounds} rounds' for how, count in ran.items())}")
    print(f"  wall     rnn-sweep {median(sweeps, 'wall'):7.1f} s   loop {median(loops, 'wall'):7.1f} s")
    print(f"  training rnn-sweep {median(sweeps, 'train'):7.1f} s   loop {median(loops, 'train'):7.1f} s   "
          f"sweep wall / its training {median(sweeps, 'wall') / median(sweeps, 'train'):.2f}x")
    print(f"  ratio loop / rnn-sweep {statistics.median(ratios):.2f}x (range {min(ratios):.2f}x-{max(ratios):.2f}x "
          f"over {rounds} rounds)")
    if one_at_a_time:
        alone = outcomes[ONE_AT_A_TIME]
        gains = [one["wall"] / sweep["wall"] for one, sweep in zip(alone, sweeps, strict=True)]
        print(f"  one at a time (train.parallel_jobs=1): wall {median(alone, 'wall'):.1f} s, training "
              f"{median(alone, 'train'):.1f} s; it / rnn-sweep {statistics.median(gains):.2f}x (range "
              f"{min(gains):.2f}x-{max(gains):.2f}x)")
    first_steps = {side: [outcome["parts"][FIRST_STEP] for outcome in outcomes[side]]
                   for side in (SWEEP, ONE_AT_A_TIME) if side in outcomes}
    print("  first training step after the command starts: " + "; ".join(
        f"{side} {statistics.median(seconds):.2f} s (range {min(seconds):.2f}-{max(seconds):.2f})"
        for side, seconds in first_steps.items())
        + f"; `import tensorflow, keras` alone {statistics.median(imports):.2f} s (range {min(imports):.2f}-"
          f"{max(imports):.2f})")
    parts = ", ".join(f"{part} {statistics.median(s['parts'][part] for s in sweeps):.1f} s"
                      for part in sweeps[0]["parts"])
    print(f"  rnn-sweep's time (median): {parts}; step functions traced {median(sweeps, 'traces'):.0f}",
          flush=True)


def median(outcomes: list[dict], key: str) -> float:
    return statistics.median(outcome[key] for outcome in outcomes)


def run_sweep(grid: Grid, scale: float, sweep_dir: Path, extra: list[str]) -> dict:
    """One `rnn-sweep -m` of the grid; its wall time, where the time went, and how it ran its jobs."""
    command = [sys.executable, "-m", "rnn_sweep", "-m", *grid.overrides(scale), "train.save_model=false",
               *extra, f"hydra.sweep.dir={sweep_dir}"]
    started_at = time.time()
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    said = [line for line in done.stdout.splitlines() if " side by side, " in line]
    ran = said[0].split(" (")[0].replace("Training", "trained") if said else "trained one job at a time"
    records = [json.loads(path.read_text()) for path in sorted(sweep_dir.glob("*/result.json"))]
    timing = json.loads((sweep_dir / "sweep_timing.json").read_text())
    first_step = min(datetime.fromisoformat(record["first_step_at"]).timestamp() for record in records)
    train = sum(record["train_seconds"] for record in records)
    traces = sum(record.get("traces") or 0 for record in records)  # none recorded before the field existed

    def total(key: str) -> float:
        return sum(record.get(key) or 0.0 for record in records)

    parts = {
        FIRST_STEP: first_step - started_at,
        "per-job set-up": total("setup_seconds") - records[0]["setup_seconds"],  # the first is in start-up
        "tracing (in training)": total("trace_seconds"),
        "evaluation": total("eval_seconds"),
        "predictions and writing": total("wrap_up_seconds"),
        "end of the sweep": timing["end_seconds"],
    }
    return {"wall": wall, "train": train, "parts": parts, "traces": traces, "ran": ran}


FIRST_STEP = "start-up to the first step"


def import_alone() -> float:
    """Wall seconds of a fresh Python that imports TensorFlow and Keras and ends."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow, keras"], check=True, capture_output=True)
    return time.perf_counter() - start


def run_loop(grid: Grid, scale: float) -> dict:
    """The plain Keras loop over the grid, in one fresh Python process; its wall time and summed fit seconds."""
    jobs = {"jobs": grid.jobs(), "limit_train": scaled(grid.limit_train, scale),
            "limit_test": scaled(LIMIT_TEST, scale), "epochs": grid.epochs}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--plain-loop", json.dumps(jobs)], check=True,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    return {"wall": wall, "train": float(done.stdout.strip().splitlines()[-1])}


def plain_loop(spec: dict) -> None:
    """What a user would write by hand: one model per job, fit, evaluate; prints the summed fit seconds last."""
    import keras

    from rnn_sweep.data.loading import load_data, locate_data, make_splits
    from rnn_sweep.data.sequences import to_sequences

    train, test = load_data(locate_data(None, "mnist"))
    train_seconds = 0.0
    for cell, units, seed, rate in spec["jobs"]:
        splits = make_splits(train, test, limit_train=spec["limit_train"], limit_test=spec["limit_test"],
                             validation_split=0.1, seed=seed)
        keras.utils.set_random_seed(seed)
        x_train, x_val, x_test = (to_sequences(x, "rows") for x in (splits.x_train, splits.x_val, splits.x_test))
        y_train, y_val, y_test = (keras.utils.to_categorical(y, 10) for y in (splits.y_train, splits.y_val,
                                                                               splits.y_test))
        model = keras.Sequential([keras.Input(x_train.shape[1:]), getattr(keras.layers, KERAS_CELLS[cell])(units),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(rate), loss="categorical_crossentropy", metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=128, epochs=spec["epochs"], validation_data=(x_val, y_val),
                  validation_batch_size=1024, verbose=0)
        train_seconds += time.perf_counter() - start
        model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    print(f"{train_seconds:.3f}")


if __name__ == "__main__":
    main()
