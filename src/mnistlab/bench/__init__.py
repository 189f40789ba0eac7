"""``mnistlab bench``: speed and time-to-accuracy, side by side with a Keras reference; parallel work."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from mnistlab.atomic import write_json, write_text


def write_results(results: dict, out: Path, render: Callable[[dict], str], log: Callable[[str], None], what: str) -> dict:
    """Stamp ``results`` with the time they finished, write them as ``out`` (Markdown, by ``render``) and its JSON twin."""
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_text(out, render(results))
    write_json(out.with_suffix(".json"), results)
    log(f"{what} written to {out} and {out.with_suffix('.json')}")
    return results
