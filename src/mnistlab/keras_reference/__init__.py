"""The Keras side: the notebooks' own Keras code, run in a separate environment that mnistlab creates.

Nothing here imports Keras or TensorFlow into mnistlab: ``environment`` makes the virtualenv and
runs scripts in it; ``bench_models.py`` (the benchmark's reference) and ``notebooks.py`` (every
notebook experiment, for ``mnistlab reproduce --keras``) are those scripts, and they never
import mnistlab.
"""
