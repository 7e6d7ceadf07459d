"""Download progress on stderr while ``in`` runs without ``debug`` (SPEC B.1.1, A.2.2).

This module owns how progress looks: on a terminal one line redrawn in place (at most ten times a
second), elsewhere a plain line every few seconds and one per finished blob. It writes from the
download threads under a lock, never waits for anything else, and must never write to stdout.
With ``debug`` the caller uses ``DebugProgress`` instead: a debug log line per finished blob.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from registry_image_resource.log import Logger


def _mib(count: int) -> str:
    return f"{count / (1 << 20):.1f} MiB"


class Progress:
    """Bytes done out of the total for a set of blobs, shown on ``stream``."""

    def __init__(
        self, stream: TextIO, sizes: Iterable[tuple[str, int]], *, interval: float | None = None
    ) -> None:
        self._stream = stream
        self._sizes = dict(sizes)
        self._total = sum(self._sizes.values())
        self._done = 0
        self._finished = 0
        self._lock = threading.Lock()
        try:
            self._tty = stream.isatty()
        except (OSError, ValueError):
            self._tty = False
        self._interval = interval if interval is not None else (0.1 if self._tty else 5.0)
        self._last = time.monotonic()

    def advance(self, digest: str, count: int) -> None:
        with self._lock:
            self._done += count
            now = time.monotonic()
            if now - self._last >= self._interval:
                self._last = now
                self._show()

    def done(self, digest: str) -> None:
        with self._lock:
            self._finished += 1
            if not self._tty:
                size = self._sizes.get(digest, 0)
                self._write(f"downloaded {digest[:19]} ({_mib(size)}), {self._finished}/{len(self._sizes)}\n")
            else:
                self._show()

    def close(self) -> None:
        with self._lock:
            if self._tty:
                self._write("\r\x1b[K")

    def _show(self) -> None:
        percent = 100 * self._done // self._total if self._total else 100
        blobs = f"{self._finished}/{len(self._sizes)} blobs"
        line = f"{blobs}, {_mib(self._done)} of {_mib(self._total)} ({percent}%)"
        self._write(f"\r\x1b[K{line}" if self._tty else f"{line}\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            pass  # progress is decoration: a closed or broken stderr must not fail the get


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
