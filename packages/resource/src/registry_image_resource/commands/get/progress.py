"""Download progress on stderr while ``in`` runs without ``debug`` (SPEC B.1.1, A.2.2).

This module owns what the line says: bytes done out of the total of the blobs and blobs finished,
and one line per finished blob. Drawing is ``commands/progress_line.py``'s. With ``debug`` the
caller uses ``DebugProgress`` instead: a debug log line per finished blob.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

from registry_image_resource.commands.progress_line import ProgressLine, mib

if TYPE_CHECKING:
    from registry_image_resource.log import Logger


class Progress(ProgressLine):
    """Bytes done out of the total for a set of blobs, shown on ``stream``."""

    def __init__(
        self, stream: TextIO, sizes: Iterable[tuple[str, int]], *, interval: float | None = None
    ) -> None:
        super().__init__(stream, interval=interval)
        self._sizes = dict(sizes)
        self._total = sum(self._sizes.values())
        self._done = 0
        self._count = 0

    def advance(self, digest: str, count: int) -> None:
        with self._lock:
            self._done += count
            self._tick()

    def done(self, digest: str) -> None:
        with self._lock:
            self._count += 1
            size = self._sizes.get(digest, 0)
            self._finished(f"downloaded {digest[:19]} ({mib(size)}), {self._count}/{len(self._sizes)}")

    def line(self) -> str:
        percent = 100 * self._done // self._total if self._total else 100
        blobs = f"{self._count}/{len(self._sizes)} blobs"
        return f"{blobs}, {mib(self._done)} of {mib(self._total)} ({percent}%)"


class DebugProgress:
    """With ``debug``: one debug line per finished blob, no bar."""

    def __init__(self, logger: Logger, sizes: Iterable[tuple[str, int]]) -> None:
        self._log = logger
        self._sizes = dict(sizes)

    def advance(self, digest: str, count: int) -> None:
        return

    def done(self, digest: str) -> None:
        self._log.debug("downloaded %s (%d bytes)", digest, self._sizes.get(digest, 0))

    def close(self) -> None:
        return
