"""Where a built-in dataset's files come from, in order.

1. ``data_dir`` (the ``--data-dir`` option or ``MNISTLAB_DATA_DIR``): ``DIR/<name>/`` or ``DIR/``.
2. The cache: ``MNISTLAB_HOME/datasets/<name>/`` (default ``~/.cache/mnistlab``).
3. System folders, such as Debian's ``dataset-fashion-mnist`` package.
4. A download into the cache from the dataset's mirrors (``MNISTLAB_MIRRORS`` replaces them).
"""

from __future__ import annotations

import os
from pathlib import Path

from mnistlab.data.download import DownloadFailed, download
from mnistlab.data.registry import IdxDatasetSpec
from mnistlab.errors import MnistlabError


def home_dir() -> Path:
    """mnistlab's cache folder: ``MNISTLAB_HOME`` or ``~/.cache/mnistlab``."""
    return Path(os.environ.get("MNISTLAB_HOME") or Path.home() / ".cache" / "mnistlab")


def cache_dir(spec: IdxDatasetSpec) -> Path:
    return home_dir() / "datasets" / spec.name


def configured_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The explicit data folder, falling back to ``MNISTLAB_DATA_DIR``."""
    chosen = data_dir or os.environ.get("MNISTLAB_DATA_DIR")
    return Path(chosen).expanduser() if chosen else None


def mirrors_for(spec: IdxDatasetSpec) -> tuple[str, ...]:
    """The spec's mirrors, or those listed (comma or space separated) in ``MNISTLAB_MIRRORS``."""
    override = os.environ.get("MNISTLAB_MIRRORS", "").replace(",", " ").split()
    return tuple(override) or spec.mirrors


def candidate_dirs(spec: IdxDatasetSpec, data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for a complete local copy, in priority order."""
    dirs = []
    chosen = configured_data_dir(data_dir)
    if chosen is not None:
        dirs += [chosen / spec.name, chosen]
    dirs.append(cache_dir(spec))
    dirs += [Path(d) for d in spec.system_dirs]
    return dirs


def _complete_copy(spec: IdxDatasetSpec, folder: Path) -> dict[str, Path] | None:
    paths = {f.name: folder / f.name for f in spec.files}
    return paths if all(p.is_file() for p in paths.values()) else None


def locate(
    spec: IdxDatasetSpec,
    data_dir: str | Path | None = None,
    allow_download: bool = True,
    show_progress: bool = False,
) -> dict[str, Path]:
    """Paths of the dataset's four files, downloading into the cache if no local copy exists."""
    searched = candidate_dirs(spec, data_dir)
    for folder in searched:
        found = _complete_copy(spec, folder)
        if found is not None:
            return found
    missing = ", ".join(f.name for f in spec.files)
    where = "; ".join(str(d) for d in searched)
    hint = (
        "set MNISTLAB_DATA_DIR (or --data-dir) to a folder holding them, "
        f"or connect to the internet so mnistlab can download them into {cache_dir(spec)}"
    )
    if not allow_download:
        raise MnistlabError(f"{spec.name}: {missing} not found (looked in {where}); {hint}")
    target = cache_dir(spec)
    try:
        for file in spec.files:
            path = target / file.name
            if not path.is_file():
                download(file, mirrors_for(spec), path, show_progress=show_progress)
    except DownloadFailed as exc:
        raise MnistlabError(f"{spec.name}: {missing} not found locally (looked in {where}) and {exc}; {hint}") from None
    return {f.name: target / f.name for f in spec.files}
