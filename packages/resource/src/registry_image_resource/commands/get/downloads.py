"""Downloading blobs concurrently while the caller consumes them in order (SPEC A.2.2).

This module owns the pipeline between the registry and the writers: up to ``concurrency`` blobs
download at once, each into an anonymous temporary file (``O_TMPFILE``: nothing is left behind
even if the process is killed), and the caller reads any of them *while it is still arriving*
through a ``Tail`` stream that waits for more bytes instead of seeing EOF. So layer 1 unpacks as it
downloads while layers 2 to 4 prefetch, memory stays at a few chunks per download, and each blob
is verified (digest and size, by the client's ``BlobReader``) before its stream reports EOF.
It also offers ``write_at``: downloads written straight into a file at given offsets (the
docker-save tarball). This module must never hold a blob in memory nor hide a download error: a
failed download fails every reader of it with that error.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from registry_image_resource.errors import TransportError

DEFAULT_CONCURRENCY = 4
CHUNK = 1 << 20


class BlobOpener(Protocol):
    """What a download needs from the registry client."""

    def open_blob(self, digest: str, size: int | None = None, offset: int = 0) -> Any: ...


@dataclass(frozen=True, slots=True)
class Wanted:
    digest: str
    size: int


class _Progress(Protocol):
    def advance(self, digest: str, count: int) -> None: ...

    def done(self, digest: str) -> None: ...


class Download:
    """One blob arriving into a temporary file; ``open()`` streams it as it arrives."""

    def __init__(self, wanted: Wanted, fd: int) -> None:
        self.wanted = wanted
        self.fd = fd
        self._cond = threading.Condition()
        self._written = 0
        self._finished = False
        self._error: BaseException | None = None
        self._cancelled = False

    # writer side (a pool thread)
    def run(self, client: BlobOpener, progress: _Progress | None) -> None:
        try:
            with client.open_blob(self.wanted.digest, self.wanted.size) as reader:
                buffer = bytearray(CHUNK)
                view = memoryview(buffer)
                while True:
                    if self._cancelled:
                        raise TransportError(f"download of {self.wanted.digest} cancelled")
                    count = reader.readinto(view)
                    if not count:
                        break
                    chunk = view[:count]
                    while chunk:
                        written = os.write(self.fd, chunk)
                        chunk = chunk[written:]
                    with self._cond:
                        self._written += count
                        self._cond.notify_all()
                    if progress is not None:
                        progress.advance(self.wanted.digest, count)
        except BaseException as err:
            with self._cond:
                self._error = err
                self._finished = True
                self._cond.notify_all()
            return
        with self._cond:
            self._finished = True
            self._cond.notify_all()
        if progress is not None:
            progress.done(self.wanted.digest)

    def cancel(self) -> None:
        self._cancelled = True

    # reader side
    def wait_for(self, position: int) -> int:
        """Block until more than ``position`` bytes are written or the download ended; the byte count."""
        with self._cond:
            while self._written <= position and not self._finished:
                self._cond.wait()
            if self._error is not None:
                raise _reraise(self._error)
            return self._written

    def result(self) -> None:
        """Wait for the whole blob; raise the download's error if it failed."""
        with self._cond:
            while not self._finished:
                self._cond.wait()
            if self._error is not None:
                raise _reraise(self._error)

    def failure(self) -> BaseException | None:
        with self._cond:
            return self._error if self._finished else None

    def open(self) -> Tail:
        return Tail(self)


def _reraise(error: BaseException) -> BaseException:
    """A worker's error for the caller: an I/O failure as a ``TransportError``; anything else (a
    bug) as it is, so that the CLI reports an internal error with its traceback."""
    if not isinstance(error, OSError):
        return error
    return TransportError(f"{type(error).__name__}: {error}")


class Tail:
    """A read-only stream of a ``Download`` that waits for bytes still to come (``tail -f``)."""

    def __init__(self, download: Download) -> None:
        self._download = download
        self._position = 0

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        available = self._download.wait_for(self._position)
        count = min(len(view), available - self._position)
        if count <= 0:
            return 0
        got = os.preadv(self._download.fd, [view[:count]], self._position)
        self._position += got
        return got

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        buffer = bytearray(size)
        count = self.readinto(buffer)
        return bytes(buffer[:count])


class Downloads:
    """A pool downloading blobs into anonymous temporary files under ``workdir``.

    Use as a context manager: leaving it cancels what is still running and closes every file.
    """

    def __init__(
        self,
        client: BlobOpener,
        workdir: Path,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: _Progress | None = None,
    ) -> None:
        self._client = client
        self._workdir = workdir
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="download")
        self._progress = progress
        self._downloads: list[Download] = []

    def __enter__(self) -> Downloads:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        for download in self._downloads:
            download.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for download in self._downloads:
            os.close(download.fd)
        self._downloads.clear()

    def start(self, wanted: Iterable[Wanted]) -> list[Download]:
        """Queue ``wanted`` in order (the first ones start first); returns their downloads."""
        started: list[Download] = []
        for item in wanted:
            fd = _anonymous_file(self._workdir)
            download = Download(item, fd)
            self._downloads.append(download)
            started.append(download)
            self._pool.submit(download.run, self._client, self._progress)
        return started


def _anonymous_file(directory: Path) -> int:
    try:
        return os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except (AttributeError, OSError):
        fd, name = tempfile.mkstemp(dir=directory, prefix=".blob-")
        os.unlink(name)
        return fd


def write_at(
    client: BlobOpener,
    fd: int,
    placements: Sequence[tuple[Wanted, int]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: _Progress | None = None,
    on_error: Callable[[], None] | None = None,
) -> None:
    """Download each blob into ``fd`` at its offset, ``concurrency`` at a time; raise the first error."""

    failed = threading.Event()

    def one(wanted: Wanted, offset: int) -> None:
        with client.open_blob(wanted.digest, wanted.size) as reader:
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            position = offset
            while True:
                if failed.is_set():
                    return
                count = reader.readinto(view)
                if not count:
                    break
                chunk = view[:count]
                while chunk:
                    written = os.pwrite(fd, chunk, position)
                    chunk = chunk[written:]
                    position += written
                if progress is not None:
                    progress.advance(wanted.digest, count)
        if progress is not None:
            progress.done(wanted.digest)

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="download") as pool:
        futures: list[Future[None]] = [pool.submit(one, w, o) for w, o in placements]
        try:
            for future in futures:
                future.result()
        except BaseException as err:
            failed.set()
            for future in futures:
                future.cancel()
            if on_error is not None:
                on_error()
            raise _reraise(err) from None
