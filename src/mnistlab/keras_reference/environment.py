"""The Keras reference's own environment: a virtualenv mnistlab creates and runs the reference scripts in."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import venv
from pathlib import Path

from mnistlab.data.sources import home_dir
from mnistlab.errors import MnistlabError

# scipy: ImageDataGenerator's affine transforms (notebook 003)
KERAS_REQUIREMENTS = ["tensorflow-cpu>=2.16,<3", "keras>=3,<4", "scipy>=1.11,<2"]
HERE = Path(__file__).parent


def keras_python(log=print) -> Path:
    """The interpreter of ``MNISTLAB_HOME/keras-env``, creating the environment on first use."""
    env = home_dir() / "keras-env"
    python = env / "bin" / "python"
    if not python.exists():
        log(f"Creating the Keras reference environment in {env} (once) ...")
        venv.create(env, with_pip=True)
    check = subprocess.run([str(python), "-c", "import keras, tensorflow, scipy"], capture_output=True)
    if check.returncode != 0:
        log("Installing " + " ".join(KERAS_REQUIREMENTS) + " into it ...")
        result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *KERAS_REQUIREMENTS], capture_output=True, text=True)
        if result.returncode != 0:
            raise MnistlabError(f"could not install the Keras reference ({result.stderr.strip().splitlines()[-1:]}); rerun without the Keras side")
    return python


class Lockstep:
    """A reference trainer in its own process, run one epoch at a time, in alternation with ours.

    The process speaks ``bench_models.py --lockstep``'s protocol: JSON lines on stdout (first
    ``{"ready": true}``, then one per epoch, then the final result), and each epoch waits for a line
    on stdin. Alternating epochs puts each pair in the same state of a shared machine.
    """

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self._errors = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors, text=True, env=env)

    def __enter__(self) -> "Lockstep":
        try:
            self._read()  # {"ready": true}: set up, waiting for the first epoch
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._errors.close()

    def epoch(self) -> float:
        """Run the reference's next epoch; its seconds."""
        self._process.stdin.write("\n")
        self._process.stdin.flush()
        return self._read()["seconds"]

    def result(self) -> dict:
        """The reference's final JSON result, once its last epoch has run."""
        return self._read()

    def _read(self) -> dict:
        for line in self._process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        self._process.wait()
        self._errors.seek(0)
        last = (self._errors.read().strip().splitlines() or ["no output"])[-1]
        raise MnistlabError(f"the Keras reference failed (exit code {self._process.returncode}): {last}")


def keras_environment(threads: int | None = None) -> dict[str, str]:
    """Environment variables for a reference process: quiet TensorFlow, ``threads`` intra-op threads if given."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if threads:
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1")
    return env
