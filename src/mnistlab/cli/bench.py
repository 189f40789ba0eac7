"""``mnistlab bench``: training speed, time to accuracy, inference and memory, with a Keras reference."""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.cli.options import add_data_dir, add_device


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bench",
        help="measure speed and time to accuracy, side by side with Keras 3 (writes docs/benchmarks.md and .json)",
        description="Runs for about a quarter of an hour on 2 CPU cores; --quick checks the whole path in a minute "
        "(its numbers mean nothing). The Keras reference runs in its own environment, created on first use "
        "in $MNISTLAB_HOME/keras-env (tensorflow-cpu and keras from PyPI).",
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings: 2,000 images, 2 epochs, 1 seed")
    parser.add_argument("--no-keras", dest="keras", action="store_false", help="skip the Keras reference")
    parser.add_argument("--parallel", action="store_true",
                        help="measure parallel work instead: sweep trials per minute with 1 and 2 workers, with and without the thread "
                        "budget, and one training beside a busy process (about 12 minutes on 2 cores; writes docs/parallel.md)")
    parser.add_argument("--out", help="Markdown file to write (default: docs/benchmarks.md; with --quick, runs/benchmarks-quick.md, "
                        "so a quick check never replaces the committed figures)")
    add_device(parser)
    add_data_dir(parser)
    parser.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from mnistlab.bench.run import run_benchmark
    from mnistlab.errors import MnistlabError

    name = "parallel" if args.parallel else "benchmarks"
    out = args.out or (f"runs/{name}-quick.md" if args.quick else f"docs/{name}.md")
    if not out.endswith(".md"):
        raise MnistlabError(f"--out must name a Markdown file ending in .md (the JSON goes beside it), got '{out}'")
    if args.parallel:
        from mnistlab.bench.parallel import run_parallel_benchmark

        run_parallel_benchmark(args.quick, args.data_dir, Path(out))
    else:
        run_benchmark(args.quick, args.device, args.data_dir, args.keras, Path(out))
    return 0
