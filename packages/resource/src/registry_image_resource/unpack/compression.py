"""Choosing and running a layer's decompressor from the blob's first bytes (SPEC B.4.3, A.2.2).

This module owns the magic-byte rule (``28 b5 2f fd`` zstd, ``1f 8b`` gzip, anything else plain
tar, whatever the media type claims) and wraps the fast libraries: gzip through ``isal``'s
threaded reader (decompression runs in its own thread, outside the GIL, while the caller writes
files), zstd through ``zstandard``'s streaming reader. Data flows through in bounded chunks; this
module must never hold a whole layer in memory. Errors of the decompressors become one
``UnpackError`` line; errors of the underlying stream (a ``ResourceError`` from the download) pass
through unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Protocol, cast

from registry_image_resource.errors import ResourceError, UnpackError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BLOCK = 1 << 20


class Source(Protocol):
    """A compressed blob being read: ``read(n)`` returns b"" only at its end."""

    def read(self, size: int = -1, /) -> bytes: ...


def detect(head: bytes) -> str:
    """``"zstd"``, ``"gzip"`` or ``"tar"`` for a blob starting with ``head`` (at least 4 bytes if any)."""
    if head[:4] == ZSTD_MAGIC:
        return "zstd"
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    return "tar"


class _Prefixed(io.RawIOBase):
    """``head`` followed by the rest of ``source`` (so the magic bytes are read only once)."""

    def __init__(self, head: bytes, source: Source) -> None:
        self._head = memoryview(head)
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._source, "readinto", None)
        if readinto is not None:
            return int(readinto(view) or 0)
        data = self._source.read(len(view))
        view[: len(data)] = data
        return len(data)


class _Guarded(io.RawIOBase):
    """Turns a decompressor's own errors into ``UnpackError``; download errors pass through."""

    def __init__(self, inner: Any, kind: str) -> None:
        self._inner = inner
        self._kind = kind

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self._inner.readinto(buffer) or 0)
        except ResourceError:
            raise
        except EOFError:
            raise UnpackError(f"{self._kind} stream ended early (truncated layer)") from None
        except Exception as err:  # each library has its own error classes
            raise UnpackError(f"invalid {self._kind} stream: {err}") from None

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def _read_head(source: Source) -> bytes:
    head = b""
    while len(head) < 4:
        data = source.read(4 - len(head))
        if not data:
            break
        head += data
    return head


@contextmanager
def decompressed(source: Source, *, threaded: bool = True) -> Iterator[io.BufferedIOBase]:
    """The uncompressed tar stream of ``source``, decompressor chosen by magic bytes."""
    head = _read_head(source)
    kind = detect(head)
    raw = _Prefixed(head, source)
    inner: Any
    if kind == "gzip":
        if threaded:
            from isal import igzip_threaded

            inner = igzip_threaded.open(  # type: ignore[no-untyped-call]
                raw, "rb", threads=1, block_size=_BLOCK
            )
        else:
            from isal import igzip

            inner = igzip.IGzipFile(fileobj=raw, mode="rb")  # type: ignore[no-untyped-call]
    elif kind == "zstd":
        import zstandard

        inner = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], raw), read_size=_BLOCK, read_across_frames=True
        )
    else:
        inner = raw
    stream = io.BufferedReader(_Guarded(inner, kind), buffer_size=_BLOCK)
    try:
        yield stream
    finally:
        stream.close()
