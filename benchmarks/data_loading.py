"""What a sweep's job pays to get its data: MNIST read, decoded and verified from its files, against the copy its
process already holds (a sweep's jobs on the basic launcher share one process).

    python benchmarks/data_loading.py              # 5 rounds, the data RNN_SWEEP_DATA or Keras' cache points at
    python benchmarks/data_loading.py --rounds 9

Each round clears the kept copy and loads twice: the first load reads the files (what every job paid before the
copy was kept), the second is what each later job of the process pays. Median and range over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from rnn_sweep.data import loading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-verify", action="store_true", help="skip the checksums, as data.verify=false does")
    args = parser.parse_args()
    source = loading.locate_data(None)
    read, kept = [], []
    for _ in range(args.rounds):
        loading._load_kept.cache_clear()
        for times in (read, kept):
            start = time.perf_counter()
            loading.load_data(source, verify=not args.no_verify)
            times.append(time.perf_counter() - start)
    print(f"{source.describe()}, verify={not args.no_verify}, {args.rounds} rounds")
    for name, times in (("read from the files", read), ("kept in the process", kept)):
        print(f"  {name:20} median {statistics.median(times) * 1000:9.2f} ms  "
              f"range {min(times) * 1000:.2f}-{max(times) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
