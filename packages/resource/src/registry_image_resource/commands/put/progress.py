"""Upload progress on stderr while ``out`` runs without ``debug`` (as ``in`` shows downloads).

This module owns how it looks: on a terminal one line redrawn in place (at most ten times a
second), elsewhere a plain line every few seconds while bytes flow and one per finished blob. The
total of bytes is not known up front (layers gzipped on the way get their size at the end), so
it counts blobs out of the total and bytes sent. It writes from the upload threads under a lock,
never waits for anything else, and must never write to stdout. With ``debug`` there is no
progress: the push logs a debug line per blob instead.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO


def _mib(count: int) -> str:
    return f"{count / (1 << 20):.1f} MiB"


class UploadProgress:
    """Blobs finished out of ``blobs``, and bytes sent, shown on ``stream``."""

    def __init__(self, stream: TextIO, blobs: int, *, interval: float | None = None) -> None:
        self._stream = stream
        self._blobs = blobs
        self._sent = 0
        self._finished = 0
        self._lock = threading.Lock()
        try:
            self._tty = stream.isatty()
        except (OSError, ValueError):
            self._tty = False
        self._interval = interval if interval is not None else (0.1 if self._tty else 5.0)
        self._last = time.monotonic()

    def advance(self, count: int) -> None:
        """``count`` more bytes handed to the registry."""
        with self._lock:
            self._sent += count
            now = time.monotonic()
            if now - self._last >= self._interval:
                self._last = now
                self._show()

    def done(self, digest: str, size: int, how: str) -> None:
        """One blob finished: ``how`` is ``uploaded``, ``existing`` or ``mounted``."""
        with self._lock:
            self._finished += 1
            if self._tty:
                self._show()
            else:
                self._write(f"{how} {digest[:19]} ({_mib(size)}), {self._finished}/{self._blobs}\n")

    def close(self) -> None:
        with self._lock:
            if self._tty:
                self._write("\r\x1b[K")

    def _show(self) -> None:
        line = f"{self._finished}/{self._blobs} blobs, {_mib(self._sent)} uploaded"
        self._write(f"\r\x1b[K{line}" if self._tty else f"{line}\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            pass  # progress is decoration: a closed or broken stderr must not fail the put
