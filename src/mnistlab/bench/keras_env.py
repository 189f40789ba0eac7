"""The Keras reference's own environment: a virtualenv the benchmark creates and runs the reference in."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

from mnistlab.data.sources import home_dir
from mnistlab.errors import MnistlabError

KERAS_REQUIREMENTS = ["tensorflow-cpu>=2.16,<3", "keras>=3,<4"]
SCRIPT = Path(__file__).with_name("keras_reference.py")


def keras_python(log=print) -> Path:
    """The interpreter of ``MNISTLAB_HOME/keras-env``, creating the environment on first use."""
    env = home_dir() / "keras-env"
    python = env / "bin" / "python"
    if not python.exists():
        log(f"Creating the Keras reference environment in {env} (once) ...")
        venv.create(env, with_pip=True)
    check = subprocess.run([str(python), "-c", "import keras, tensorflow"], capture_output=True)
    if check.returncode != 0:
        log("Installing " + " ".join(KERAS_REQUIREMENTS) + " into it ...")
        result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *KERAS_REQUIREMENTS], capture_output=True, text=True)
        if result.returncode != 0:
            raise MnistlabError(f"could not install the Keras reference ({result.stderr.strip().splitlines()[-1:]}); rerun with --no-keras")
    return python


def run_keras(data_folder: Path, model: str, epochs: int, limit: int | None, threads: int) -> dict:
    """Train the notebook ``model`` (cnn or mlp) with Keras in its environment; its JSON result."""
    command = [str(keras_python()), str(SCRIPT), "--data", str(data_folder), "--model", model, "--epochs", str(epochs)]
    if limit:
        command += ["--limit", str(limit)]
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise MnistlabError(f"the Keras reference failed: {(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


