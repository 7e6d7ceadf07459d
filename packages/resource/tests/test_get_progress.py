"""Progress on stderr: a redrawn line on a terminal, plain lines elsewhere, debug lines with debug."""

from __future__ import annotations

import io
import logging

from registry_image_resource.commands.get.progress import DebugProgress, Progress

MIB = 1 << 20


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_stream_gets_one_line_per_finished_blob():
    stream = io.StringIO()
    progress = Progress(stream, [("sha256:" + "a" * 64, 2 * MIB), ("sha256:" + "b" * 64, MIB)], interval=3600)
    progress.advance("sha256:" + "a" * 64, 2 * MIB)
    progress.done("sha256:" + "a" * 64)
    progress.advance("sha256:" + "b" * 64, MIB)
    progress.done("sha256:" + "b" * 64)
    progress.close()
    assert stream.getvalue() == (
        "downloaded sha256:aaaaaaaaaaaa (2.0 MiB), 1/2\ndownloaded sha256:bbbbbbbbbbbb (1.0 MiB), 2/2\n"
    )


def test_terminal_gets_one_line_redrawn_in_place_and_cleared_at_the_end():
    stream = Terminal()
    progress = Progress(stream, [("sha256:a", 4 * MIB)], interval=0)
    progress.advance("sha256:a", MIB)
    progress.done("sha256:a")
    progress.close()
    assert stream.getvalue() == (
        "\r\x1b[K0/1 blobs, 1.0 MiB of 4.0 MiB (25%)\r\x1b[K1/1 blobs, 1.0 MiB of 4.0 MiB (25%)\r\x1b[K"
    )


def test_a_broken_stderr_does_not_fail_the_get():
    stream = io.StringIO()
    stream.close()
    progress = Progress(stream, [("sha256:a", 1)], interval=0)
    progress.advance("sha256:a", 1)
    progress.done("sha256:a")


def test_debug_progress_logs_each_finished_blob(caplog):
    caplog.set_level(logging.DEBUG, logger="test-progress")
    progress = DebugProgress(logging.getLogger("test-progress"), [("sha256:a", 10)])
    progress.advance("sha256:a", 10)
    progress.done("sha256:a")
    assert caplog.messages == ["downloaded sha256:a (10 bytes)"]
