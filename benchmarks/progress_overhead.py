"""What the live progress display costs: the same small training with and without it, interleaved, in one process,
and the cost of its parts timed directly (what a noisy shared machine cannot resolve in epoch times).

    python benchmarks/progress_overhead.py                        # 5 rounds, gru-32, batch 32, 4096 images
    python benchmarks/progress_overhead.py --rounds 9 --steps-per-execution 1

Each round trains once with the live display (drawn by rich to a terminal console writing to /dev/null, so the
rendering is real but the terminal's own drawing is not counted) and once without it, in alternating order, so a
machine that slows down mid-run slows both. Each figure is the run's median training-only epoch after the first
(which includes tracing), as train_samples_per_second says. With --steps-per-execution 1 Keras calls the batch
hook after every step: the worst case for the throttle.

The parts: one redraw of the display (rich renders it on its own thread, refresh_per_second times a second), and
one call of the batch hook between redraws (throttled: a clock read and a comparison).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from throughput import _compose  # this folder is on sys.path when the script runs

from rnn_sweep.console import LiveProgress


def main() -> None:
    args = _arguments()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    overrides = [f"model={args.cell}", f"model.units={args.units}", f"train.batch_size={args.batch_size}",
                 f"train.epochs={args.epochs}", f"data.limit_train={args.samples}", "data.limit_test=256",
                 "train.save_model=false", "train.device=cpu"]
    if args.steps_per_execution:
        overrides.append(f"train.steps_per_execution={args.steps_per_execution}")
    seconds: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as workdir, open(os.devnull, "w") as devnull:
        for round_number in range(args.rounds):
            for live in (False, True) if round_number % 2 == 0 else (True, False):
                record = _run(overrides, Path(workdir), live, devnull)
                seconds[live].append(record["train_samples"] / record["train_samples_per_second"])
                print(f"round {round_number + 1} {'live' if live else 'plain'}: "
                      f"{seconds[live][-1]:.3f} s per epoch (training only)", file=sys.stderr)
    _report(seconds, record)
    _parts_cost()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=4096, help="training images (the validation split included)")
    parser.add_argument("--epochs", type=int, default=3, help="per run; the first is not counted")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps-per-execution", type=int, help="default: what rnn-sweep chooses")
    return parser.parse_args()


def _run(overrides: list[str], workdir: Path, live: bool, devnull) -> dict:
    """One job as `rnn-sweep OVERRIDES` runs it on a terminal (live) or into a log file (plain)."""
    from rnn_sweep.train.runner import train_run  # TensorFlow: after the arguments are read

    console = Console(file=devnull, force_terminal=live, force_interactive=live, width=160)
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    record = train_run(_compose(overrides), run_dir, overrides, console, live=LiveProgress() if live else None)
    if record["status"] != "ok":
        raise RuntimeError(f"run failed: {record['error']}")
    return record


def _report(seconds: dict[bool, list[float]], record: dict) -> None:
    plain, live = seconds[False], seconds[True]
    ratios = sorted(b / a for a, b in zip(plain, live, strict=True))
    print(f"{record['cell']}-{record['units']} batch {record['batch_size']}, {record['train_samples']} images, "
          f"steps_per_execution {record['steps_per_execution']}, {record['device']}, {len(plain)} rounds")
    for name, values in (("plain", plain), ("live", live)):
        print(f"  {name:5s} epoch s: median {statistics.median(values):.3f}  min {min(values):.3f}  "
              f"max {max(values):.3f}")
    print(f"  live/plain per round: median {statistics.median(ratios):.3f}  range {ratios[0]:.3f} - {ratios[-1]:.3f}"
          f"  (overhead {100 * (statistics.median(ratios) - 1):+.1f}%)")


def _parts_cost(calls: int = 100_000, redraws: int = 500) -> None:
    """Time the hook and the redraw on their own: a display at 160 columns, rendered to /dev/null."""
    from rnn_sweep.train.callbacks import EpochProgress

    live = LiveProgress()
    with open(os.devnull, "w") as devnull:
        console = Console(file=devnull, force_terminal=True, force_interactive=True, width=160)
        progress = EpochProgress(console, epochs=1, label="gru-32 bs32 adam", live=live)
        progress.set_params({"epochs": 1, "steps": 10 * calls, "verbose": 0})
        progress.on_train_begin()
        progress.on_epoch_begin(0)
        logs = {"loss": 0.5, "accuracy": 0.9}
        start = time.perf_counter()
        for batch in range(calls):
            progress.on_train_batch_end(batch, logs)
        hook = (time.perf_counter() - start) / calls
        start = time.perf_counter()
        for _ in range(redraws):
            progress._display.refresh()
        redraw = (time.perf_counter() - start) / redraws
        progress.close()
    print(f"  batch hook: {hook * 1e6:.2f} us a call; redraw: {redraw * 1e3:.2f} ms, "
          f"{live.refresh_per_second:g} a second = {100 * redraw * live.refresh_per_second:.2f}% of one core")


if __name__ == "__main__":
    main()
