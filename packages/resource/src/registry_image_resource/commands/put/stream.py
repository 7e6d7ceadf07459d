"""Uncompressed ``docker save`` layers: gzipped on all cores and uploaded while they compress.

Each plain layer is one chunked upload (``RegistryClient.upload_chunks``) fed by
``compress.gzip_chunks``; several layers go at once (``jobs``), their blocks sharing one pool of
compressors, so both cores compress while the network sends. Memory per layer is bounded by the
blocks queued ahead and one upload part. The digests come back at the end; ``complete`` then
builds the manifest, and ``push.push`` pushes the rest (config, compressed layers, manifest, tags).

This module owns that stage only: it never puts a manifest (nothing is tagged before every layer
is in), and never writes a compressed copy to disk.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from registry_image_resource.commands.put.compress import compression_pool, gzip_chunks
from registry_image_resource.commands.put.inputs.docker_archive import complete
from registry_image_resource.commands.put.inputs.tree import LoadedImage, PendingImage, PlainLayer
from registry_image_resource.log import get_logger

DEFAULT_JOBS = 2


class StreamTarget(Protocol):
    """What streaming needs from the registry client (``registry.client.RegistryClient``)."""

    def upload_chunks(self, chunks: Callable[[], Iterable[bytes]]) -> tuple[str, int]: ...


class _Progress(Protocol):
    def advance(self, count: int) -> None: ...

    def done(self, digest: str, size: int, how: str) -> None: ...


def push_plain_layers(
    target: StreamTarget,
    pending: PendingImage,
    *,
    jobs: int = DEFAULT_JOBS,
    progress: _Progress | None = None,
) -> tuple[LoadedImage, tuple[str, ...]]:
    """Gzip and upload every plain layer; the completed image and the digests uploaded."""
    log = get_logger()
    layers = pending.plain_layers
    with compression_pool() as compressors, concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as uploads:

        def one(layer: PlainLayer) -> tuple[str, int]:
            def chunks() -> Iterator[bytes]:
                for chunk in gzip_chunks(layer.path, layer.offset, layer.size, compressors):
                    if progress is not None:
                        progress.advance(len(chunk))
                    yield chunk

            digest, size = target.upload_chunks(chunks)
            log.debug("pushed blob: %s (gzipped from %d bytes to %d)", digest, layer.size, size)
            if progress is not None:
                progress.done(digest, size, "uploaded")
            return digest, size

        futures = [uploads.submit(one, layer) for layer in layers]
        try:
            results = [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    compressed = dict(zip(layers, results, strict=True))
    return complete(pending, compressed), tuple(digest for digest, _ in results)
