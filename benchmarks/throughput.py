"""Training throughput of rnn-sweep's own training path against a plain Keras script, in one process.

    python benchmarks/throughput.py                 # the table: every cell at 32 and 128 units, batch 128
    python benchmarks/throughput.py --levers        # what each speed lever does on this machine
    python benchmarks/throughput.py --accuracy      # test accuracy after equal epochs, plain vs rnn-sweep

Both sides train the same model (cell -> Dense(10) logits, Adam) at the same batch size and precision on the
same MNIST images (RNN_SWEEP_DATA or Keras' cache). rnn-sweep's side is `rnn_sweep.train.runner.train_run`, the
function every `rnn-sweep` job runs; the plain side is `model.fit` on numpy arrays, as the tutorials do.
The two are interleaved round by round, so a machine that slows down mid-run slows both; each figure is the
best round's median epoch after the first (which includes tracing), counting only training, not validation.

GFLOP/s counts the matrix products only (forward and the two backward products, so 3x the forward), and the
matmul rate is a float32 product of the cell's gate shape, batch x (inputs + units) x (gates * units),
timed here: the share says how close training gets to what the hardware does with such a product.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from rnn_sweep.config.cells import cell_entry

TIME_STEPS, INPUTS, CLASSES = 28, 28, 10


@dataclass
class Row:
    cell: str
    units: int
    batch_size: int
    device: str
    plain_samples_per_second: float
    rnn_sweep_samples_per_second: float
    ratio: float
    gflops: float
    matmul_gflops: float
    matmul_share: float
    levers: str


def main() -> None:
    args = _arguments()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.levers:
        _levers(args)
    elif args.accuracy:
        _accuracy(args)
    else:
        _throughput(args)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="simple_rnn,lstm,gru")
    parser.add_argument("--units", default="32,128")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=5120, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="per measurement; the first is not counted")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best counts")
    parser.add_argument("--csv", type=Path, default=Path("benchmarks/results/throughput.csv"))
    parser.add_argument("--levers", action="store_true", help="measure each speed lever on its own")
    parser.add_argument("--accuracy", action="store_true", help="test accuracy after equal epochs, full data")
    return parser.parse_args()


# --- the two training paths ---------------------------------------------------------------------------------


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from rnn_sweep.config.paths import conf_dir
    from rnn_sweep.config.schema import register
    from rnn_sweep.config.validate import validate

    register()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return validate(compose("config", overrides=overrides))


def _rnn_sweep_run(overrides: list[str], workdir: Path) -> dict:
    """One job exactly as `rnn-sweep OVERRIDES` runs it, in-process."""
    from rich.console import Console

    from rnn_sweep.train.runner import train_run

    cfg = _compose(overrides)
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    record = train_run(cfg, run_dir, overrides, Console(quiet=True))
    if record["status"] != "ok":
        raise RuntimeError(f"rnn-sweep run failed: {record['error']}")
    return record


def _plain_keras_fit(cell: str, units: int, x, y, batch_size: int, epochs: int, seed: int = 42):
    """The tutorials' script: a Sequential model and model.fit on numpy arrays, every Keras default kept."""
    import keras

    from rnn_sweep.train.callbacks import EpochTimer

    keras.utils.set_random_seed(seed)
    layer = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    model = keras.Sequential([keras.Input((TIME_STEPS, INPUTS)), layer(units), keras.layers.Dense(CLASSES)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, callbacks=[timer], verbose=0)
    return model, len(y) / statistics.median(timer.training_seconds[1:] or timer.training_seconds)


def _data(samples: int, seed: int = 42):
    """The training images rnn-sweep would use for data.limit_train=samples (validation carved off)."""
    from rnn_sweep.data.loading import load_data, locate_data, make_splits

    train, test = load_data(locate_data(None))
    return make_splits(train, test, limit_train=samples, limit_test=None, validation_split=0.1, seed=seed)


def _overrides(cell: str, units: int, args: argparse.Namespace, *extra: str) -> list[str]:
    """A short stand-in for a full run: `auto` would neither unroll nor shard a run this short (rnn_sweep.train.speed),
    so what auto gives a full-length run of this model on this machine is asked for explicitly."""
    from rnn_sweep.train.device import available_cores
    from rnn_sweep.train.speed import MIN_UNROLLED_TRAINING_STEPS, plan_speed

    base = [f"model={cell}", f"model.units={units}", f"train.batch_size={args.batch_size}",
            f"train.epochs={args.epochs}", f"data.limit_train={args.samples}", "data.limit_test=1000",
            "train.save_model=false"]
    cfg = _compose(base)
    full = plan_speed(cfg.model, cfg.train, time_steps=TIME_STEPS, training_steps=MIN_UNROLLED_TRAINING_STEPS,
                      steps_per_epoch=math.ceil(args.samples / args.batch_size), on_gpu="cuda" in _device_kind(),
                      cores=available_cores())
    chosen = [f"model.unroll={str(full.unroll).lower()}", f"model.batch_shards={full.batch_shards}"]
    given = {override.split("=")[0] for override in extra}
    return [*base, *[override for override in chosen if override.split("=")[0] not in given], *extra]


def _device_kind() -> str:
    import tensorflow as tf

    return "cuda" if tf.config.list_physical_devices("GPU") else "cpu"


# --- the table ----------------------------------------------------------------------------------------------


def _throughput(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    splits = _data(args.samples)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for cell in args.cells.split(","):
            for units in map(int, args.units.split(",")):
                plain, ours, rates, record = [], [], [], {}
                for _ in range(args.rounds):
                    plain.append(_plain_keras_fit(cell, units, splits.x_train, splits.y_train, args.batch_size,
                                                  args.epochs)[1])
                    record = _rnn_sweep_run(_overrides(cell, units, args), Path(workdir))
                    ours.append(record["train_samples_per_second"])
                    rates.append(_matmul_gflops(args.batch_size, INPUTS + units, cell_entry(cell).gates * units))
                rows.append(_row(cell, units, args.batch_size, max(plain), max(ours), max(rates), record))
                print(_format(rows[-1]), flush=True)
        startup = {cell: _cli_startup(cell, Path(workdir)) for cell in args.cells.split(",")}
    _print_table(rows, startup)
    _write_csv(args.csv, rows, startup)
    print(f"\nwrote {args.csv}; {time.perf_counter() - started:.0f} s in all")


def _row(cell: str, units: int, batch_size: int, plain: float, ours: float, rate: float, record: dict) -> Row:
    flops = _training_flops_per_sample(cell, units)
    gflops = flops * ours / 1e9
    return Row(cell, units, batch_size, record["device"], plain, ours, ours / plain, gflops, rate, gflops / rate,
               f"steps_per_execution={record['steps_per_execution']} unroll={record['unroll']} "
               f"project_inputs={record['project_inputs']} batch_shards={record['batch_shards']} "
               f"precision={record['precision']}")


def _training_flops_per_sample(cell: str, units: int) -> float:
    """Matrix products of one image: per step (inputs + units) x (gates * units), then the head; x3 for training."""
    forward = TIME_STEPS * 2 * (INPUTS + units) * cell_entry(cell).gates * units + 2 * units * CLASSES
    return 3 * forward


def _matmul_gflops(m: int, k: int, n: int, repeats: int = 64) -> float:
    """A float32 product of this shape, many per call so that dispatch does not count; best of 10 (and the
    table keeps the best round: the share is of what the hardware can do, not of a slowed-down moment)."""
    import tensorflow as tf

    a = tf.random.uniform((repeats, m, k))
    b = tf.random.uniform((k, n))

    @tf.function
    def products():
        return [tf.matmul(a[i], b) for i in range(repeats)]

    products()
    best = math.inf
    for _ in range(10):
        start = time.perf_counter()
        products()
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n * repeats / best / 1e9


def _cli_startup(cell: str, workdir: Path) -> float:
    """Seconds from launching `python -m rnn_sweep` to its first training step (TensorFlow import, data, tracing)."""
    run_dir = workdir / f"startup-{cell}"
    command = [sys.executable, "-m", "rnn_sweep", f"model={cell}", "train.epochs=1", "data.limit_train=1000",
               "data.limit_test=100", "train.save_model=false", f"hydra.run.dir={run_dir}"]
    launched = time.time()
    subprocess.run(command, check=True, capture_output=True)
    first_step = json.loads((run_dir / "result.json").read_text())["first_step_at"]
    return datetime.fromisoformat(first_step).timestamp() - launched


def _format(row: Row) -> str:
    return (f"{row.cell:>10} {row.units:>5} {row.plain_samples_per_second:>9.0f} "
            f"{row.rnn_sweep_samples_per_second:>9.0f} {row.ratio:>6.2f}x {row.gflops:>7.1f} "
            f"{row.matmul_gflops:>7.1f} {row.matmul_share:>6.0%}  {row.levers}")


def _print_table(rows: list[Row], startup: dict[str, float]) -> None:
    print(f"\ndevice: {rows[0].device}; batch {rows[0].batch_size}; samples/s of training, best of the rounds")
    print(f"{'cell':>10} {'units':>5} {'plain':>9} {'rnn-sweep':>9} {'ratio':>7} {'GFLOP/s':>7} {'matmul':>7} "
          f"{'share':>6}  levers (auto)")
    for row in rows:
        print(_format(row))
    print("CLI start-up to the first training step: "
          + ", ".join(f"{cell} {seconds:.1f} s" for cell, seconds in startup.items()))


def _write_csv(path: Path, rows: list[Row], startup: dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*asdict(rows[0]), "cli_startup_seconds"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**asdict(row), "cli_startup_seconds": round(startup[row.cell], 2)})


# --- levers one at a time ----------------------------------------------------------------------------------


LEVERS = {  # each lever alone, then together as auto resolves them for a full-length run
    "all levers off": ["train.steps_per_execution=1", "model.unroll=false", "model.batch_shards=1"],
    "steps_per_execution=8": ["train.steps_per_execution=8", "model.unroll=false", "model.batch_shards=1"],
    "steps_per_execution=32": ["train.steps_per_execution=32", "model.unroll=false", "model.batch_shards=1"],
    "unroll": ["train.steps_per_execution=1", "model.unroll=true", "model.batch_shards=1"],
    "batch_shards (auto)": ["train.steps_per_execution=1", "model.unroll=false"],
    "steps_per_execution=32 + unroll": ["train.steps_per_execution=32", "model.unroll=true", "model.batch_shards=1"],
    "mixed_bfloat16 (auto levers)": ["train.precision=mixed_bfloat16"],
    "auto without batch_shards": ["model.batch_shards=1"],
    "auto (as for a full-length run)": [],
}
GRU_LEVERS = {
    "all levers off": [*LEVERS["all levers off"], "model.project_inputs=false"],
    "auto without project_inputs": ["model.project_inputs=false"],
}


def _levers(args: argparse.Namespace) -> None:
    """Each lever's samples/s relative to plain Keras, measured interleaved like the main table."""
    splits = _data(args.samples)
    with tempfile.TemporaryDirectory() as workdir:
        for cell in args.cells.split(","):
            for units in map(int, args.units.split(",")):
                levers = {**LEVERS, **(GRU_LEVERS if cell == "gru" else {})}
                plain, ours = [], {name: [] for name in levers}
                for _ in range(args.rounds):
                    plain.append(_plain_keras_fit(cell, units, splits.x_train, splits.y_train, args.batch_size,
                                                  args.epochs)[1])
                    for name, extra in levers.items():
                        record = _rnn_sweep_run(_overrides(cell, units, args, *extra), Path(workdir))
                        ours[name].append(record["train_samples_per_second"])
                print(f"{cell}-{units}: plain Keras {max(plain):.0f} samples/s")
                for name, figures in ours.items():
                    print(f"    {name:<34} {max(figures):>8.0f}  {max(figures) / max(plain):.2f}x", flush=True)


# --- accuracy after equal epochs ---------------------------------------------------------------------------


def _accuracy(args: argparse.Namespace) -> None:
    """Same images, seed and epochs on both sides; the levers must not change what is learnt."""
    epochs = args.epochs
    splits = _data(None)
    with tempfile.TemporaryDirectory() as workdir:
        print(f"{'cell':>10} {'units':>5} {'epochs':>6} {'plain':>8} {'rnn-sweep':>9} {'points':>7}")
        for cell in args.cells.split(","):
            units = max(map(int, args.units.split(",")))
            model, _ = _plain_keras_fit(cell, units, splits.x_train, splits.y_train, args.batch_size, epochs)
            plain = model.evaluate(splits.x_test, splits.y_test, batch_size=1024, verbose=0, return_dict=True)
            record = _rnn_sweep_run([f"model={cell}", f"model.units={units}", f"train.batch_size={args.batch_size}",
                                     f"train.epochs={epochs}", "train.save_model=false"], Path(workdir))
            delta = 100 * (record["test_accuracy"] - plain["accuracy"])
            print(f"{cell:>10} {units:>5} {epochs:>6} {plain['accuracy']:>8.4f} {record['test_accuracy']:>9.4f} "
                  f"{delta:>+7.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
