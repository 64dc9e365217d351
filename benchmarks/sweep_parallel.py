"""Wall time of one sweep run one job after another, then with `hydra/launcher=joblib`, and their ratio.

    python benchmarks/sweep_parallel.py                  # 12 small jobs, joblib with one worker per core
    python benchmarks/sweep_parallel.py --epochs 3 --limit-train 6000

Each side is a real `rnn-sweep -m` command line in its own process, so TensorFlow's start-up counts as a
user would see it. One after another is `train.parallel_jobs=1` (the basic launcher: `auto` might choose joblib
itself); with joblib, `train.threads=auto` gives each of the n workers cores / n threads.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", default="model=simple_rnn,lstm,gru model.units=16,32 train.batch_size=64,128")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit-train", type=int, default=3000)
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    common = [*args.grid.split(), f"train.epochs={args.epochs}", f"data.limit_train={args.limit_train}",
              "data.limit_test=1000", "train.save_model=false"]
    launchers = {
        "one after another": ["train.parallel_jobs=1"],
        f"joblib, {args.n_jobs} workers": ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.n_jobs}"],
    }
    seconds = {}
    with tempfile.TemporaryDirectory() as workdir:
        for index, (name, extra) in enumerate(launchers.items()):
            command = [sys.executable, "-m", "rnn_sweep", "-m", *common, *extra,
                       f"hydra.sweep.dir={Path(workdir) / str(index)}"]
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            seconds[name] = time.perf_counter() - start
            print(f"{name:<24} {seconds[name]:7.1f} s", flush=True)
    sequential, parallel = seconds.values()
    print(f"speed-up of the parallel sweep: {sequential / parallel:.2f}x ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
