"""What ``out`` pushes: a tree of manifests whose blobs are byte ranges of local files.

The readers (``docker_archive`` for ``docker save`` tarballs, ``oci_layout`` for OCI layouts, as
directories or tarballs) turn their input into a ``ManifestNode`` tree before any request is
made; ``commands.put`` pushes the tree. This module owns the tree's types and reading a blob's
bytes from its file. It must never hold a blob in memory (only manifests and configs, which are
small and capped) and never talk to a registry.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from registry_image_resource.errors import InputError

#: Manifests and configs are read whole; registry:2 refuses manifests over 4 MiB anyway.
MAX_DOCUMENT_SIZE = 16 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlobFile:
    """A blob to push: ``size`` bytes at ``offset`` of ``path`` whose sha256 is ``digest``."""

    digest: str
    size: int
    path: Path
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ManifestNode:
    """A manifest to push, with what must exist in the repository before it.

    For an image, ``blobs`` are its config and layers. For an index, ``children`` are its
    image and index manifests (pushed by digest first) and ``blobs`` any other children
    (pushed as blobs, as ggcr does). ``body`` is pushed byte for byte.
    """

    body: bytes
    media_type: str
    digest: str
    blobs: tuple[BlobFile, ...] = ()
    children: tuple[ManifestNode, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """The pushable tree and the repositories its blobs may be mounted from (names as written)."""

    root: ManifestNode
    origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlainLayer:
    """An uncompressed layer, gzipped while it is pushed: ``size`` bytes at ``offset`` of ``path``."""

    path: Path
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class PendingImage:
    """A ``docker save`` image with uncompressed layers: its manifest waits for their digests.

    ``layers`` are in manifest order: a ``BlobFile`` (pushed as it is), a ``PlainLayer`` (gzipped
    on the way) or a descriptor taken verbatim from ``LayerSources`` (a foreign layer, not pushed).
    """

    config: BlobFile
    layers: tuple[BlobFile | PlainLayer | tuple[tuple[str, Any], ...], ...]
    origins: tuple[str, ...] = ()

    @property
    def plain_layers(self) -> tuple[PlainLayer, ...]:
        return tuple(dict.fromkeys(layer for layer in self.layers if isinstance(layer, PlainLayer)))


class _Slice(io.RawIOBase):
    """A read-only view of ``size`` bytes at ``offset`` of a file."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._file.seek(offset)
        self._size = size
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._read)
        if wanted <= 0:
            return 0
        got = self._file.readinto(view[:wanted])
        if not got:
            raise InputError(f"{self._file.name}: file ended {self._size - self._read} bytes early")
        self._read += got
        return got

    def __len__(self) -> int:
        return self._size

    def tell(self) -> int:
        return self._read

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class _SizedReader(io.BufferedReader):
    """A buffered ``_Slice`` with ``len()``, so the upload sends a Content-Length, never chunks."""

    def __init__(self, raw: _Slice) -> None:
        super().__init__(raw, buffer_size=_CHUNK)
        self._size = len(raw)

    def __len__(self) -> int:
        return self._size


def open_blob(blob: BlobFile) -> BinaryIO:
    """A fresh reader of the blob's bytes (``len()`` gives its size); the caller closes it."""
    return _SizedReader(_Slice(blob.path, blob.offset, blob.size))


def read_range(path: Path, offset: int, size: int, what: str) -> bytes:
    """A small document (manifest, config, index) read whole, refusing oversized ones."""
    if size > MAX_DOCUMENT_SIZE:
        raise InputError(f"{what} is {size} bytes, more than the {MAX_DOCUMENT_SIZE} allowed for a document")
    with open(path, "rb") as file:
        file.seek(offset)
        data = file.read(size)
    if len(data) != size:
        raise InputError(f"{what}: file ended {size - len(data)} bytes early")
    return data


def hash_range(path: Path, offset: int, size: int, algorithm: str = "sha256") -> str:
    """Digest of ``size`` bytes at ``offset`` of ``path``, streamed."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as file:
        file.seek(offset)
        remaining = size
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        while remaining:
            got = file.readinto(view[: min(_CHUNK, remaining)])
            if not got:
                raise InputError(f"{path}: file ended {remaining} bytes early")
            hasher.update(view[:got])
            remaining -= got
    return f"{algorithm}:{hasher.hexdigest()}"
