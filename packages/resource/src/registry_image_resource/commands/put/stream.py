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
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from registry_image_resource.commands.put.compress import compression_pool, gzip_chunks
from registry_image_resource.commands.put.inputs.docker_archive import complete
from registry_image_resource.commands.put.inputs.tree import LoadedImage, PendingImage, PlainLayer
from registry_image_resource.errors import ResourceError
from registry_image_resource.log import get_logger
from registry_image_resource.registry.mediatypes import DOCKER_LAYER_GZIP, OCI_LAYER_GZIP

if TYPE_CHECKING:
    from registry_image_resource.registry.client import Manifest

DEFAULT_JOBS = 2
_GZIP_LAYERS = (DOCKER_LAYER_GZIP, OCI_LAYER_GZIP)


class StreamTarget(Protocol):
    """What streaming needs from the registry client (``registry.client.RegistryClient``)."""

    def upload_chunks(self, chunks: Callable[[], Iterable[bytes]]) -> tuple[str, int]: ...

    def get_manifest(self, ref: str) -> Manifest: ...

    def blob_exists(self, digest: str) -> bool: ...


class _Progress(Protocol):
    def advance(self, count: int) -> None: ...

    def done(self, digest: str, size: int, how: str) -> None: ...


def push_plain_layers(
    target: StreamTarget,
    pending: PendingImage,
    *,
    jobs: int = DEFAULT_JOBS,
    progress: _Progress | None = None,
    tag: str | None = None,
) -> tuple[LoadedImage, tuple[str, ...], tuple[str, ...]]:
    """Gzip and upload every plain layer; the completed image, the digests uploaded and found.

    With ``tag``, layers that the image already under that tag has are not sent again (see
    ``reusable``).
    """
    log = get_logger()
    found = reusable(target, pending, tag) if tag is not None else {}
    for digest, size in found.values():
        log.debug("existing blob: %s (the same layer under %s)", digest, tag)
        if progress is not None:
            progress.done(digest, size, "existing")
    layers = tuple(layer for layer in pending.plain_layers if layer not in found)
    failed = threading.Event()  # one layer failed for good: the others stop at their next chunk
    with compression_pool() as compressors, concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as uploads:

        def one(layer: PlainLayer) -> tuple[str, int]:
            def chunks() -> Iterator[bytes]:
                for chunk in gzip_chunks(layer.path, layer.offset, layer.size, compressors):
                    if failed.is_set():
                        raise _Stopped
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
            for future in concurrent.futures.as_completed(futures):
                future.result()  # the first failure is the one reported
        except BaseException:
            failed.set()
            for future in futures:
                future.cancel()
            raise
        results = [future.result() for future in futures]
    compressed = {**found, **dict(zip(layers, results, strict=True))}
    existing = tuple(digest for digest, _ in found.values())
    return complete(pending, compressed), tuple(digest for digest, _ in results), existing


class _Stopped(Exception):
    """Another layer's upload failed: this one stops (never reported, the other error is)."""


def reusable(target: StreamTarget, pending: PendingImage, tag: str) -> dict[PlainLayer, tuple[str, int]]:
    """Plain layers already in the repository, as the image now under ``tag`` has them.

    A streamed layer's digest is known only once it is compressed, too late to skip its upload;
    compressing twice to learn it first would double the work. But when ``tag`` names an image
    with the same config (so the same diff_ids, layer by layer), its gzip layers are these
    layers compressed, by us (the same digest) or by another tool: one manifest GET and a HEAD
    per layer then replace the upload. Best effort: any failure just means uploading.
    """
    try:
        manifest = target.get_manifest(tag)
        document = json.loads(manifest.body)
        if document.get("config", {}).get("digest") != pending.config.digest:
            return {}
        descriptors = document.get("layers")
        if not isinstance(descriptors, list) or len(descriptors) != len(pending.layers):
            return {}
        found: dict[PlainLayer, tuple[str, int]] = {}
        for layer, descriptor in zip(pending.layers, descriptors, strict=True):
            if not isinstance(layer, PlainLayer) or descriptor.get("mediaType") not in _GZIP_LAYERS:
                continue
            digest, size = descriptor.get("digest"), descriptor.get("size")
            if isinstance(digest, str) and isinstance(size, int) and target.blob_exists(digest):
                found[layer] = (digest, size)
        return found
    except (ResourceError, ValueError, AttributeError, TypeError) as err:
        get_logger().debug("not reusing the layers under %s: %s", tag, err)
        return {}
