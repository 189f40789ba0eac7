"""The Keras reference for ``mnistlab bench``: the notebooks' CNN and MLP trained with ``model.fit``.

This file runs in a separate environment that has Keras 3 with the TensorFlow backend (the
benchmark creates it); it never imports mnistlab, and mnistlab never imports it.

    python bench_models.py --data DIR --model cnn --epochs 5   # prints one JSON object

With ``--lockstep`` it waits for a line on stdin before each epoch and prints a JSON line after
it, so that the benchmark can alternate epochs with its own training (keras_reference/environment.py).
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402


def read_idx(path):
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder):
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    return [read_idx(os.path.join(folder, name)) for name in names]


def build(kind, keras):
    layers = keras.layers
    if kind == "cnn":  # Deep Learning with Python 5.1
        return keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax"),
        ]), 64
    return keras.Sequential([keras.Input((784,)), layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax")]), 128


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", choices=("cnn", "mlp"), required=True)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--lockstep", action="store_true", help="run each epoch when a line arrives on stdin")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    x_train, y_train, x_test, y_test = load(args.data)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    shape = (-1, 28, 28, 1) if args.model == "cnn" else (-1, 784)
    x_train = x_train.reshape(shape).astype("float32") / 255
    x_test = x_test.reshape(shape).astype("float32") / 255
    y_train, y_test = keras.utils.to_categorical(y_train, 10), keras.utils.to_categorical(y_test, 10)
    model, batch_size = build(args.model, keras)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])

    class EpochTimer(keras.callbacks.Callback):
        """Times each epoch; in lockstep, waits for the go-ahead before the timer starts and reports after it stops."""

        def on_train_begin(self, logs=None):
            if args.lockstep:
                report({"ready": True})

        def on_epoch_begin(self, epoch, logs=None):
            if args.lockstep:
                sys.stdin.readline()
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.started)
            if args.lockstep:
                report({"epoch": epoch + 1, "seconds": seconds[-1]})

    seconds = []
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=batch_size, verbose=0, callbacks=[EpochTimer()])
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    report({
        "model": args.model, "epochs": args.epochs, "batch_size": batch_size, "images": len(x_train),
        "epoch_seconds": seconds, "test_accuracy": float(accuracy), "test_loss": float(loss),
        "keras": keras.__version__, "tensorflow": tf.__version__, "threads": tf.config.threading.get_intra_op_parallelism_threads(),
    })


def report(message):
    print(json.dumps(message), flush=True)


if __name__ == "__main__":
    main()
