"""Options shared by several subcommands."""

from __future__ import annotations

import argparse

from mnistlab.config import DEVICES
from mnistlab.tables import text_table


EXIT_USER_ERROR = 2  # bad input: one line on stderr
EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C (128 + SIGINT)


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="folder with the dataset files (DIR/<name>/ or DIR/); default: $MNISTLAB_DATA_DIR, then the cache, then download",
    )


def add_device(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """``--device``; with no default, each recipe's own ``device`` setting decides (auto unless it names one)."""
    said = "each recipe's own device setting, auto unless it names one" if default is None else "%(default)s"
    parser.add_argument("--device", choices=DEVICES, default=default, help=f"where to compute (default: {said})")


def add_tta(parser: argparse.ArgumentParser, decides: bool = True) -> None:
    """``--tta``; where the command also decides "unsure", it says the augmented model gets thresholds of its own."""
    parser.add_argument("--tta", action="store_true", help="test-time augmentation: the mean of the answers for the image and its "
                        "one-pixel shifts, and their mirrors for a run trained with horizontal_flip" + (" (RUN/tta, with thresholds of its own, made on first use)" if decides else ""))


def print_table(rows: list[list[str]], headers: list[str]) -> None:
    """Print left-aligned columns."""
    print(text_table(headers, rows))
