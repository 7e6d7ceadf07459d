"""Upload progress on stderr while ``out`` runs without ``debug`` (as ``in`` shows downloads).

This module owns what the line says: the total of bytes is not known up front (layers gzipped on
the way get their size at the end), so it counts blobs out of the total and bytes sent, and one
line per finished blob says how it got there. Drawing is ``commands/progress_line.py``'s. With
``debug`` there is no progress: the push logs a debug line per blob instead.
"""

from __future__ import annotations

from typing import TextIO

from registry_image_resource.commands.progress_line import ProgressLine, mib


class UploadProgress(ProgressLine):
    """Blobs finished out of ``blobs``, and bytes sent, shown on ``stream``."""

    def __init__(self, stream: TextIO, blobs: int, *, interval: float | None = None) -> None:
        super().__init__(stream, interval=interval)
        self._blobs = blobs
        self._sent = 0
        self._count = 0

    def advance(self, count: int) -> None:
        """``count`` more bytes handed to the registry."""
        with self._lock:
            self._sent += count
            self._tick()

    def done(self, digest: str, size: int, how: str) -> None:
        """One blob finished: ``how`` is ``uploaded``, ``existing`` or ``mounted``."""
        with self._lock:
            self._count += 1
            self._finished(f"{how} {digest[:19]} ({mib(size)}), {self._count}/{self._blobs}")

    def line(self) -> str:
        return f"{self._count}/{self._blobs} blobs, {mib(self._sent)} uploaded"
