"""mnistlab: the classic Keras MNIST notebooks as one reproducible tool.

The Python API in five calls::

    from mnistlab import TrainConfig, load_dataset, build_model, train, evaluate
    dataset = load_dataset("mnist")                    # or "fashion-mnist", "digits", a folder/.csv/.npz
    print(summary(build_model("cnn")))                 # Keras-style table, 93,322 parameters
    run = train(TrainConfig(model="cnn", epochs=5))    # saves runs/<time>-run/
    evaluate(run)                                      # {"test_loss": ..., "test_accuracy": ...}
"""

__version__ = "0.1.0"

from mnistlab.config import TrainConfig  # noqa: E402
from mnistlab.data import Dataset, load_dataset, to_tensors  # noqa: E402
from mnistlab.errors import MnistlabError  # noqa: E402
from mnistlab.experiment import evaluate, train  # noqa: E402
from mnistlab.models import ZOO, Network, build_model, count_params, summary  # noqa: E402
from mnistlab.recipes import Recipe, list_recipes, load_recipe  # noqa: E402
from mnistlab.runs import Run, list_runs, load_run  # noqa: E402

__all__ = [
    "ZOO", "Dataset", "MnistlabError", "Network", "Recipe", "Run", "TrainConfig",
    "build_model", "count_params", "evaluate", "list_recipes", "list_runs", "load_dataset",
    "load_recipe", "load_run", "summary", "to_tensors", "train",
]
