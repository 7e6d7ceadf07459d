"""The progress line that ``in`` and ``out`` show on stderr without ``debug`` (SPEC B.1.1, A.2.2).

This module owns how progress is drawn, for both commands: on a terminal one line redrawn in place
(at most ten times a second), elsewhere a plain line every few seconds while bytes flow. It writes
from the transfer threads under one lock, never waits for anything else, never writes to stdout,
and never fails the command: progress is decoration, so a closed or broken stderr is ignored.
What the line says is the subclass's (``get/progress.py``, ``put/progress.py``).
"""

from __future__ import annotations

import threading
import time
from typing import TextIO


def mib(count: int) -> str:
    """``count`` bytes as MiB with one decimal, as the progress lines show them."""
    return f"{count / (1 << 20):.1f} MiB"


class ProgressLine:
    """Throttled writes of ``line()`` to ``stream``; subclasses say what the line holds."""

    def __init__(self, stream: TextIO, *, interval: float | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        try:
            self._tty = stream.isatty()
        except (OSError, ValueError):
            self._tty = False
        self._interval = interval if interval is not None else (0.1 if self._tty else 5.0)
        self._last = time.monotonic()

    def line(self) -> str:
        """The progress as one line, without line ends (called under the lock)."""
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            if self._tty:
                self._write("\r\x1b[K")

    def _tick(self) -> None:
        """Show the line if ``interval`` has passed since it was last shown (under the lock)."""
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._show()

    def _finished(self, text: str) -> None:
        """A blob finished: redraw on a terminal, else write ``text`` as a line (under the lock)."""
        if self._tty:
            self._show()
        else:
            self._write(text + "\n")

    def _show(self) -> None:
        line = self.line()
        self._write(f"\r\x1b[K{line}" if self._tty else f"{line}\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            pass
