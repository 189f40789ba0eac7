"""Download a file from the first mirror that serves it intact: checksummed, written atomically."""

from __future__ import annotations

import hashlib
import http.client
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from mnistlab.atomic import atomic_path
from mnistlab.data.registry import RemoteFile
from mnistlab.errors import MnistlabError

CHUNK_BYTES = 1 << 16


class DownloadFailed(MnistlabError):
    """Every mirror failed for a file; the message lists each mirror's reason."""


def _fetch_verified(url: str, file: RemoteFile, dest: Path, timeout: float, show_progress: bool) -> None:
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with atomic_path(dest) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                done += len(chunk)
                if show_progress and total:
                    print(f"\r  {file.name}: {done * 100 // total:3d}%", end="", file=sys.stderr)
        if show_progress and total:
            print(file=sys.stderr)
        if md5.hexdigest() != file.md5 or sha256.hexdigest() != file.sha256:
            raise ValueError(f"checksum mismatch (md5 {md5.hexdigest()}, expected {file.md5})")


def download(
    file: RemoteFile,
    mirrors: Sequence[str],
    dest: str | Path,
    timeout: float = 30.0,
    show_progress: bool = False,
) -> Path:
    """Fetch ``file`` into ``dest``, trying each mirror (a base URL) in turn.

    A mirror that is unreachable, answers with an error, or serves bytes whose md5/sha256
    differ from the canonical ones is skipped. Nothing is left at ``dest`` unless a
    verified copy arrived.
    """
    dest = Path(dest)
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + file.name
        try:
            _fetch_verified(url, file, dest, timeout, show_progress)
            return dest
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            failures.append(f"{url}: {reason}")
    raise DownloadFailed(f"could not download {file.name} ({'; '.join(failures) or 'no mirrors'})")
