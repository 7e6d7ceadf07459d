"""Decompressing and parsing a layer in a child process, so that it runs on another core.

On a layer of many small files, ``in`` is bound by one thread: each entry costs about 5 us of
header parsing (``tarstream``) and about 12 us of creating the file (four system calls and the
Python around them), and the GIL keeps the two in one core. This module moves the first part
into a child process, the way GNU tar runs gzip beside it: the parent pumps the compressed blob
into the child's stdin; the child decompresses it (``compression.decompressed``), reads it with
the same ``TarReader`` and writes the entries back in frames; the parent hands them to
``Rootfs.apply_entries`` one by one, as ``TarReader`` would. Measured on the project's 2-CPU
machine (2026-12-04, Debian's Python 3.11), one gzip layer of 200,000 files of 64-200 bytes
unpacked into tmpfs: the child spends 1.2 s (alone, output discarded); the parent's user-space
work per entry falls from about 60,000 instructions to about 28,000 (``valgrind --tool=callgrind``
on 20,000 files: 1.49 G in one process, 0.79 G in the parent with the child, 0.17 G of either
being start-up and imports); the
whole ``in`` (``bench/bench_unpack_limits.py --runs 3``) from 3.41 s to 2.67 s, 1.39x to 1.06x
GNU ``tar -xzf``. A layer of a few large files gains nothing (its cost is decompression, which
the in-process reader already runs in a thread), and the child's start costs about 30 ms, which is
why ``commands.get.rootfs`` uses it only for layers of at least 1 MiB.

The child never touches the filesystem and the parent's writer is unchanged, so every safety
rule of SPEC A.2.1 stays where it is: in the one process that resolves names and creates entries,
in tar order. The child's errors (``UnpackError``) travel back as their one-line message and are
raised after the entries before them were applied, as in-process (an entry whose data is cut
short is not created at all, where the in-process reader leaves it partly written before the same
error); an error of the blob's own stream (a failed download) is raised as it is. Memory stays
bounded on both sides: the child reads in 1 MiB pieces and sends entries in frames of at most
``_MAX_FRAME`` bytes, a file's data inline only up to ``_INLINE`` bytes and otherwise in data
frames of at most 1 MiB, and the parent refuses any larger frame. This module must never apply
an entry itself nor let the child write anything but frames to its stdout.

Frames (child to parent): a header ``struct`` ``<cI`` (kind, payload length), then the payload.
``E``: ``marshal`` of ``(entries, data)``, two lists of the same length: each entry's ``Entry``
fields as a plain tuple, and its data as ``bytes`` or ``None`` when ``D`` frames follow (exactly
``size`` bytes of them). ``X``: an ``UnpackError`` message (UTF-8, surrogate escapes). ``Z``: the end.
``marshal`` reads only what the child, our own code, wrote from plain tuples, strings and numbers.

The child's stderr goes to an unnamed temporary file, never to the build log: a bug in it (a
traceback) would otherwise break the rule that a failure is one line. When the child fails, the
last ``_STDERR_TAIL`` bytes of it are logged at DEBUG (masked as every record) before the error.
"""

from __future__ import annotations

import marshal
import os
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, Any

from registry_image_resource.errors import ResourceError, UnpackError
from registry_image_resource.unpack.compression import Source
from registry_image_resource.unpack.tarfields import MAX_SPECIAL
from registry_image_resource.unpack.tarstream import Entry

_HEADER = struct.Struct("<cI")
_INLINE = 64 << 10
_BATCH_BYTES = 256 << 10
_BATCH_ENTRIES = 512
_DATA = 1 << 20
# A batch ends once it reaches _BATCH_BYTES, so its frame holds at most that plus one entry: data
# up to _INLINE, a name and a link name up to MAX_SPECIAL each (PAX records), a few numbers.
_MAX_FRAME = _BATCH_BYTES + _INLINE + 2 * MAX_SPECIAL + 4096
_PUMP = 1 << 20
_F_SETPIPE_SZ = 1031
_CHILD = "from registry_image_resource.unpack.reader_process import main; main()"
_STDERR_TAIL = 4096


class ChildEntries:
    """The entries of a layer decompressed and parsed by a child process; ``TarReader``'s interface.

    ``for entry in reader:`` yields ``Entry`` objects in tar order, ``reader.chunk()`` the current
    entry's data. Use as a context manager: leaving it ends the child whatever happened.
    """

    def __init__(self, source: Source, *, command: list[str] | None = None) -> None:
        self._source = source
        # -P: without it, ``-c`` puts the working directory first on the child's import path.
        self._command = command or [sys.executable, "-P", "-c", _CHILD]
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._fd = -1
        self._pump: threading.Thread | None = None
        self._pump_error: BaseException | None = None
        self._buffer = bytearray(_MAX_FRAME)
        self._view = memoryview(self._buffer)
        self._current: bytes | None = None
        self._remaining = 0
        self._ended = False

    def __enter__(self) -> ChildEntries:
        child_in, to_child = os.pipe()
        from_child, child_out = os.pipe()
        try:
            _widen(from_child)
            _widen(to_child)
            self._stderr = tempfile.TemporaryFile()
            self._process = subprocess.Popen(
                self._command, stdin=child_in, stdout=child_out, stderr=self._stderr, close_fds=True
            )
        except BaseException:
            for fd in (child_in, to_child, from_child, child_out):
                os.close(fd)
            if self._stderr is not None:
                self._stderr.close()
            raise
        os.close(child_in)
        os.close(child_out)
        self._fd = from_child
        # The pump owns ``to_child`` and closes it when the blob ends or the child is gone.
        self._pump = threading.Thread(target=self._feed, args=(to_child,), name="layer-pump", daemon=True)
        self._pump.start()
        return self

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            if not self._ended:
                process.kill()
            process.wait()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    # -- the parent's side of the pipes --------------------------------------------------------

    def _feed(self, fd: int) -> None:
        buffer = bytearray(_PUMP)
        view = memoryview(buffer)
        readinto = getattr(self._source, "readinto", None)
        try:
            while True:
                if readinto is not None:
                    count = int(readinto(view) or 0)
                    piece = view[:count]
                else:
                    piece = memoryview(self._source.read(_PUMP))
                    count = len(piece)
                if not count:
                    break
                while piece:
                    piece = piece[os.write(fd, piece) :]
        except BrokenPipeError:
            pass  # the child is gone: the parent reports why from its frames
        except BaseException as err:
            self._pump_error = err
        finally:
            os.close(fd)

    def _read_exact(self, count: int) -> memoryview | None:
        view = self._view[:count]
        got = 0
        while got < count:
            step = os.readv(self._fd, [view[got:]])
            if not step:
                return None
            got += step
        return view

    def _frame(self) -> tuple[bytes, memoryview]:
        header = self._read_exact(_HEADER.size)
        if header is None:
            raise self._failure()
        kind, length = _HEADER.unpack(header)
        if length > _MAX_FRAME:
            raise self._failure(f"frame of {length} bytes")
        payload = self._read_exact(length)
        if payload is None:
            raise self._failure()
        if kind == b"X":
            raise self._stream_error() or UnpackError(bytes(payload).decode("utf-8", "surrogateescape"))
        return kind, payload

    def _stream_error(self) -> BaseException | None:
        """The blob's own error (a failed download), which the child saw only as a cut stream.

        The pump records it before closing the child's stdin, so it is set by the time the
        child's frames end or report the cut."""
        error = self._pump_error
        if error is None:
            return None
        if isinstance(error, ResourceError):
            return error
        if isinstance(error, OSError):
            return UnpackError(f"read layer: {error.strerror or error}")
        return error

    def _failure(self, what: str = "") -> BaseException:
        """The error for frames that ended early (``what`` empty) or broke the protocol."""
        error = self._stream_error()
        if error is not None:
            return error
        process = self._process
        if process is None:
            return UnpackError(f"layer reader process failed ({what})")
        if what:
            process.kill()  # it may be blocked writing frames nobody will read
            return UnpackError(f"layer reader process failed ({what})")
        # Its stdout ended: it is exiting, or has closed stdout and is about to.
        status = process.wait()
        self._log_stderr()
        return UnpackError(f"layer reader process failed (exit status {status})")

    def _log_stderr(self) -> None:
        """The end of what the failed child wrote to stderr, at DEBUG (nothing when it wrote nothing)."""
        if self._stderr is None:
            return
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - _STDERR_TAIL))
        tail = self._stderr.read(_STDERR_TAIL).decode("utf-8", "replace").rstrip()
        if tail:
            from registry_image_resource.log import get_logger

            get_logger().debug("layer reader process stderr (its last %d bytes):\n%s", _STDERR_TAIL, tail)

    # -- TarReader's interface -----------------------------------------------------------------

    def __iter__(self) -> Iterator[Entry]:
        # A generator: resuming one costs less than a ``__next__`` call per entry.
        make = tuple.__new__  # Entry._make without its Python-level length check
        while True:
            kind, payload = self._frame()
            if kind == b"Z":
                self._ended = True
                return
            if kind != b"E":
                raise self._failure(f"unexpected frame {kind!r}")
            entries, data = marshal.loads(payload)  # noqa: S302 (written by our child, see above)
            for fields, inline in zip(entries, data, strict=True):
                entry: Entry = make(Entry, fields)
                if inline is None:
                    self._remaining = entry.size
                elif len(inline) != entry.size:
                    raise self._failure(f"{len(inline)} bytes of data for {entry.size}")
                self._current = inline
                yield entry
                while self._remaining:
                    self.chunk()

    def chunk(self) -> bytes | memoryview:
        """The next piece of the current entry's data; empty at its end."""
        data = self._current
        if data is not None:
            self._current = None
            return data
        if not self._remaining:
            return b""
        kind, payload = self._frame()
        if kind != b"D" or len(payload) > min(self._remaining, _DATA):
            raise self._failure(f"unexpected frame {kind!r}")
        self._remaining -= len(payload)
        return payload


def _widen(fd: int) -> None:
    """A 1 MiB pipe where the system allows it: fewer, larger reads (64 KiB is Linux's default)."""
    try:
        import fcntl

        fcntl.fcntl(fd, _F_SETPIPE_SZ, _DATA)
    except OSError:
        pass


# -- the child -----------------------------------------------------------------------------------


def _send(kind: bytes, payload: bytes | memoryview) -> None:
    parts = [memoryview(_HEADER.pack(kind, len(payload))), memoryview(payload).cast("B")]
    while parts:
        written = os.writev(1, parts)
        while parts and written >= len(parts[0]):
            written -= len(parts[0])
            parts.pop(0)
        if parts and written:
            parts[0] = parts[0][written:]


def serve(source: Source) -> None:
    """Decompress and parse ``source``, writing frames to fd 1 (the child's whole job)."""
    from registry_image_resource.unpack.compression import decompressed
    from registry_image_resource.unpack.tarstream import TarReader

    entries: list[tuple[Any, ...]] = []
    data: list[bytes | None] = []
    pending = 0

    def flush() -> None:
        nonlocal pending
        if entries:
            _send(b"E", marshal.dumps((entries, data)))
            entries.clear()
            data.clear()
            pending = 0

    try:
        with decompressed(source) as stream:
            reader = TarReader(stream)
            for entry in reader:
                if entry.size <= _INLINE:
                    # Read first: a cut stream fails here, before the entry is in the batch.
                    data.append(reader.read(entry.size))
                    entries.append(tuple(entry))
                    pending += entry.size + len(entry.name) + len(entry.linkname) + 64
                    if pending >= _BATCH_BYTES or len(entries) >= _BATCH_ENTRIES:
                        flush()
                    continue
                entries.append(tuple(entry))
                data.append(None)
                flush()
                while piece := reader.chunk():
                    for start in range(0, len(piece), _DATA):
                        _send(b"D", piece[start : start + _DATA])
    except UnpackError as err:
        flush()
        _send(b"X", str(err).encode("utf-8", "surrogateescape"))
        return
    flush()
    _send(b"Z", b"")


def main() -> None:
    try:
        serve(open(0, "rb", buffering=0, closefd=False))  # noqa: SIM115 (fd 0 stays open)
    except BrokenPipeError:
        sys.exit(1)  # the parent is gone


if __name__ == "__main__":  # pragma: no cover
    main()
