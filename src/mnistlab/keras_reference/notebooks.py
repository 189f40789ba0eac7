"""The five seed notebooks' own Keras code, one function per experiment, for ``mnistlab reproduce --keras``.

Runs in the Keras environment mnistlab creates (Keras 3, TensorFlow backend); it never imports
mnistlab. Each function is its notebook's cells, in order, with three changes only: the data
comes from ``--data`` (an .npz of the same uint8 arrays mnistlab trains on, since there is no
download here), Keras 2 names are written as their Keras 3 equivalents (``fit_generator`` ->
``fit``, ``np_utils.to_categorical`` -> ``keras.utils.to_categorical``, ``keras.layers.core``
-> ``keras.layers``, ``ImageDataGenerator`` from ``tensorflow.keras``), and ``verbose=0``.

    python notebooks.py --recipe 000-mlp-64-tanh --seed 0 --data mnist.npz   # prints one JSON object

With ``--same-start FOLDER`` (``mnistlab same-start``) the notebook's ``fit`` call trains instead on
the batch orders in ``FOLDER/orders.npy``, one epoch per row, with no shuffling and no callbacks, and
saves the initial weights (``initial.npz``) and the running loss after every step (``losses.npy``),
so that mnistlab can start from the same weights and follow the same batches.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402


def notebook_000(data, keras, variant):
    """MLP lab (Keras 2): model_1 (64 tanh), model_2 (64-32 tanh), model_3 (64-32 relu); sgd, batch 64, 5 epochs."""
    from keras.layers import Dense
    from keras.models import Sequential

    (X_train, y_train), (X_test, y_test) = data
    X_train = X_train.reshape(len(X_train), 784).astype("float32")
    X_test = X_test.reshape(10000, 784).astype("float32")
    X_train /= 255.
    X_test /= 255.
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    activation, hidden = {"mlp-64-tanh": ("tanh", []), "mlp-64-32-tanh": ("tanh", [32]), "mlp-64-32-relu": ("relu", [32])}[variant]
    model = Sequential()
    model.add(Dense(64, activation=activation, input_shape=(784,)))
    for units in hidden:
        model.add(Dense(units, activation=activation))
    model.add(Dense(10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    results = model.fit(X_train, y_train, epochs=EPOCHS or 5, batch_size=64, validation_data=(X_test, y_test), verbose=0)
    return model, results, (X_test, y_test)


def notebook_001(data, keras, variant):
    """Deep Learning with Python 2.1 + 5.1: the 512 relu MLP (batch 128) and the convnet (batch 64); rmsprop, 5 epochs."""
    from keras import layers, models
    from keras.utils import to_categorical

    (train_images, train_labels), (test_images, test_labels) = data
    n = len(train_images)
    if variant == "mlp-512":
        network = models.Sequential()
        network.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
        network.add(layers.Dense(10, activation="softmax"))
        network.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
        train_images = train_images.reshape((n, 28 * 28)).astype("float32") / 255
        test_images = test_images.reshape((10000, 28 * 28)).astype("float32") / 255
        train_labels, test_labels = to_categorical(train_labels), to_categorical(test_labels)
        history = network.fit(train_images, train_labels, epochs=EPOCHS or 5, batch_size=128, verbose=0)
        return network, history, (test_images, test_labels)
    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    train_images = train_images.reshape((n, 28, 28, 1)).astype("float32") / 255
    test_images = test_images.reshape((10000, 28, 28, 1)).astype("float32") / 255
    train_labels, test_labels = to_categorical(train_labels), to_categorical(test_labels)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train_images, train_labels, epochs=EPOCHS or 5, batch_size=64, verbose=0)
    return model, history, (test_images, test_labels)


def notebook_002(data, keras, variant):
    """Supervised image classification: 512-512 relu MLP, compile() with no optimizer, fit() with no batch size."""
    from keras.layers import Dense
    from keras.models import Sequential

    (x_train, y_train), (x_valid, y_valid) = data
    x_train = x_train.reshape(len(x_train), 784)
    x_valid = x_valid.reshape(10000, 784)
    x_train = x_train / 255
    x_valid = x_valid / 255
    num_categories = 10
    y_train = keras.utils.to_categorical(y_train, num_categories)
    y_valid = keras.utils.to_categorical(y_valid, num_categories)
    model = Sequential()
    model.add(Dense(units=512, activation="relu", input_shape=(784,)))
    model.add(Dense(units=512, activation="relu"))
    model.add(Dense(units=10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=EPOCHS or 5, verbose=0, validation_data=(x_valid, y_valid))
    return model, history, (x_valid, y_valid)


def notebook_003(data, keras, variant):
    """MNIST in Keras: the 512-512 dropout MLP (adam, batch 128, or the exercise's 32 / 10,000) and the
    batch-norm CNN trained on ImageDataGenerator batches."""
    from keras.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from keras.models import Sequential
    from tensorflow.keras.preprocessing.image import ImageDataGenerator  # Keras 3 keeps it in the tf.keras namespace

    (X_train, y_train), (X_test, y_test) = data
    n = len(X_train)
    nb_classes = 10
    Y_train = keras.utils.to_categorical(y_train, nb_classes)
    Y_test = keras.utils.to_categorical(y_test, nb_classes)
    if variant.startswith("mlp"):
        X_train = X_train.reshape(n, 784).astype("float32")
        X_test = X_test.reshape(10000, 784).astype("float32")
        X_train /= 255
        X_test /= 255
        model = Sequential()
        model.add(Dense(512, input_shape=(784,)))
        model.add(Activation("relu"))
        model.add(Dropout(0.2))
        model.add(Dense(512))
        model.add(Activation("relu"))
        model.add(Dropout(0.2))
        model.add(Dense(10))
        model.add(Activation("softmax"))
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        batch_size = {"mlp-512-512-dropout": 128, "mlp-batch-32": 32, "mlp-batch-10000": 10000}[variant]
        history = model.fit(X_train, Y_train, batch_size=batch_size, epochs=EPOCHS or 5, verbose=0)
        return model, history, (X_test, Y_test)
    X_train = X_train.reshape(n, 28, 28, 1).astype("float32")
    X_test = X_test.reshape(10000, 28, 28, 1).astype("float32")
    X_train /= 255
    X_test /= 255
    model = Sequential()
    model.add(Conv2D(32, (3, 3), input_shape=(28, 28, 1)))
    model.add(BatchNormalization(axis=-1))
    model.add(Activation("relu"))
    model.add(Conv2D(32, (3, 3)))
    model.add(BatchNormalization(axis=-1))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Conv2D(64, (3, 3)))
    model.add(BatchNormalization(axis=-1))
    model.add(Activation("relu"))
    model.add(Conv2D(64, (3, 3)))
    model.add(BatchNormalization(axis=-1))
    model.add(Activation("relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(512))
    model.add(BatchNormalization())
    model.add(Activation("relu"))
    model.add(Dropout(0.2))
    model.add(Dense(10))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    train_gen = ImageDataGenerator(rotation_range=8, width_shift_range=0.08, shear_range=0.3, height_shift_range=0.08, zoom_range=0.08)
    test_gen = ImageDataGenerator()
    train_generator = train_gen.flow(X_train, Y_train, batch_size=128)
    test_generator = test_gen.flow(X_test, Y_test, batch_size=128)
    history = model.fit(
        train_generator, steps_per_epoch=n // 128, epochs=EPOCHS or 5, verbose=0,
        validation_data=test_generator, validation_steps=10000 // 128,
    )
    return model, history, (X_test, Y_test)


def notebook_004(data, keras, variant):
    """Fashion-MNIST with TensorFlow: the MLP (EarlyStopping on loss, patience 5), its dropout variant
    (patience 3, restore_best_weights), and exercise 7's digits MLP (50 epochs)."""
    import tensorflow as tf

    (train_images, train_labels), (test_images, test_labels) = data
    if variant == "digits-mlp":
        X_train = train_images.reshape(len(train_images), 64) / 16.0
        X_test = test_images.reshape(len(test_images), 64) / 16.0
        y_train = np.stack([(train_labels == i).astype(int) for i in range(10)], axis=1)  # digit_0 .. digit_9
        y_test = np.stack([(test_labels == i).astype(int) for i in range(10)], axis=1)
        model = tf.keras.Sequential([
            tf.keras.layers.Dense(128, input_shape=(64,)),
            tf.keras.layers.Dense(64, activation=tf.nn.relu),
            tf.keras.layers.Dense(32, activation=tf.nn.relu),
            tf.keras.layers.Dense(10, activation=tf.nn.softmax),
        ])
        model.compile(loss="categorical_crossentropy", optimizer="Adam", metrics=["accuracy"])
        history = model.fit(X_train, y_train, epochs=EPOCHS or 50, verbose=0)
        return model, history, (X_test, y_test)
    # train_df[FEATURES] / 255.0 and the one-hot target_0 .. target_9 columns, as arrays
    features = train_images.reshape(len(train_images), 784) / 255.0
    targets = np.stack([(train_labels == i).astype(int) for i in range(10)], axis=1)
    test_features = test_images.reshape(len(test_images), 784) / 255.0
    test_targets = np.stack([(test_labels == i).astype(int) for i in range(10)], axis=1)
    dropout = [tf.keras.layers.Dropout(rate=0.1)] if variant == "fashion-mlp-dropout" else []
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(128, input_shape=(784,)),
        tf.keras.layers.Dense(64, activation=tf.nn.relu),
        *dropout,
        tf.keras.layers.Dense(32, activation=tf.nn.relu),
        tf.keras.layers.Dense(10, activation=tf.nn.softmax),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="Adam", metrics=["accuracy"])
    if dropout:
        callback = tf.keras.callbacks.EarlyStopping(monitor="loss", patience=3, restore_best_weights=True)
    else:
        callback = tf.keras.callbacks.EarlyStopping(monitor="loss", patience=5)
    history = model.fit(features, targets, epochs=EPOCHS or 500, callbacks=[callback], verbose=0)
    return model, history, (test_features, test_targets)


def follow_given_batches(keras, folder):
    """Make ``Model.fit`` train on ``folder``'s batch orders from the model's initial weights, recording each step."""
    from pathlib import Path

    folder = Path(folder)
    notebook_fit = keras.Model.fit

    def fit(model, x=None, y=None, batch_size=None, **ignored):
        np.savez(folder / "initial.npz", *model.get_weights())
        losses = []
        recorder = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
        x, y = np.asarray(x), np.asarray(y)
        for order in np.load(folder / "orders.npy"):
            history = notebook_fit(model, x[order], y[order], batch_size=batch_size or 32, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
        np.save(folder / "losses.npy", np.array(losses))
        return history

    keras.Model.fit = fit


NOTEBOOKS = {"000": notebook_000, "001": notebook_001, "002": notebook_002, "003": notebook_003, "004": notebook_004}
EPOCHS = None  # --epochs, for a quick try; None: each notebook's own


def main():
    global EPOCHS
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", required=True, help="a notebook recipe's name, such as 004-fashion-mlp")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--data", required=True, help=".npz with x_train, y_train, x_test, y_test (uint8 images)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--same-start", help="a folder with orders.npy: train on those batches and record each step (mnistlab same-start)")
    args = parser.parse_args()
    EPOCHS = args.epochs
    number, variant = args.recipe.split("-", 1)

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    if args.same_start:
        follow_given_batches(keras, args.same_start)
    with np.load(args.data) as arrays:
        data = (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
    started = time.perf_counter()
    model, history, (x_test, y_test) = NOTEBOOKS[number](data, keras, variant)
    seconds = time.perf_counter() - started
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(json.dumps({
        "recipe": args.recipe, "seed": args.seed, "test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
        "train_accuracy": float(history.history["accuracy"][-1]), "train_loss": float(history.history["loss"][-1]),
        "epochs_run": len(history.history["loss"]), "seconds": seconds,
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__},
    }), flush=True)


if __name__ == "__main__":
    main()
