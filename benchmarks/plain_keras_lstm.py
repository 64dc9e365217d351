"""A plain Keras LSTM on MNIST or Fashion-MNIST, as a tutorial would write it: the baseline the best_* presets face.

LSTM(UNITS) on the 28 rows -> Dense(10), Adam at Keras' default learning rate, batch 128, all 60,000 training
images, test accuracy after EPOCHS epochs; one JSON line per seed. Only the data loading is rnn-sweep's (checked
the same way). Usage: python benchmarks/plain_keras_lstm.py --data fashion_mnist --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time

import keras

from rnn_sweep.data.loading import load_data, locate_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion_mnist", choices=("mnist", "fashion_mnist"))
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    (x, y), (x_test, y_test) = load_data(locate_data(None, args.data))
    x, x_test = x.astype("float32") / 255, x_test.astype("float32") / 255
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((28, 28)), keras.layers.LSTM(args.units), keras.layers.Dense(10)])
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(x, y, batch_size=128, epochs=args.epochs, verbose=0)
        seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
        print(json.dumps({"data": args.data, "model": f"LSTM({args.units})", "params": model.count_params(),
                          "epochs": args.epochs, "seed": seed, "test_accuracy": round(float(accuracy), 4),
                          "train_seconds": round(seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
