"""Pushing a ``ManifestNode`` tree to one repository (SPEC B.5.6).

Blobs first, concurrently (default 4 at a time), each uploaded only if the repository lacks it:
``HEAD`` it, else try a cross-repository mount from each origin on the same registry, else
upload it streamed from disk. Then the manifests, deepest first (children before the index that
lists them), by digest; finally the root once per tag. Retries belong to the client, per request.

This module owns that order and the de-duplication (a blob or manifest shared by several
platforms is pushed once). It must never read a blob into memory, never decide what the tags
are, and never sign anything (content trust runs after it returns).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import BinaryIO, Protocol, TypeVar

from registry_image_resource.commands.put.inputs.tree import BlobFile, ManifestNode, open_blob
from registry_image_resource.errors import IntegrityError, ResourceError
from registry_image_resource.log import get_logger
from registry_image_resource.registry.reference import Repository

DEFAULT_JOBS = 4
_T = TypeVar("_T")


class PushTarget(Protocol):
    """What a push needs from the registry client (``registry.client.RegistryClient``)."""

    def blob_exists(self, digest: str) -> bool: ...

    def mount_blob(self, digest: str, from_repo: Repository) -> bool: ...

    def upload_blob(self, digest: str, size: int, opener: Callable[[], BinaryIO]) -> None: ...

    def put_manifest(self, ref: str, body: bytes, media_type: str) -> str: ...


class Progress(Protocol):
    """Where a push reports its blobs (``commands.put.progress.UploadProgress``)."""

    def advance(self, count: int) -> None: ...

    def done(self, digest: str, size: int, how: str) -> None: ...


@dataclass(frozen=True, slots=True)
class PushReport:
    """What a push did, for logs and tests: blobs by outcome, and manifests put."""

    uploaded: tuple[str, ...]
    existing: tuple[str, ...]
    mounted: tuple[str, ...]
    manifests: tuple[str, ...]


def all_blobs(root: ManifestNode) -> list[BlobFile]:
    """Every blob of the tree once, in tree order (config and layers of the first image first)."""
    found: dict[str, BlobFile] = {}
    for node in _walk(root):
        for blob in node.blobs:
            found.setdefault(blob.digest, blob)
    return list(found.values())


def manifest_levels(root: ManifestNode) -> list[list[ManifestNode]]:
    """The manifests below the root grouped by height (images first), each digest once.

    Every manifest in a level only refers to manifests of earlier levels, so a level can be
    pushed concurrently once the levels before it are done.
    """
    heights: dict[str, int] = {}
    nodes: dict[str, ManifestNode] = {}

    def height(node: ManifestNode) -> int:
        if node.digest not in heights:
            heights[node.digest] = 1 + max((height(c) for c in node.children), default=-1)
            nodes[node.digest] = node
        return heights[node.digest]

    for child in root.children:
        height(child)
    levels: list[list[ManifestNode]] = [[] for _ in range(max(heights.values(), default=-1) + 1)]
    for digest, node in nodes.items():
        levels[heights[digest]].append(node)
    return levels


def _walk(node: ManifestNode) -> Iterable[ManifestNode]:
    yield node
    for child in node.children:
        yield from _walk(child)


def push(
    target: PushTarget,
    root: ManifestNode,
    tags: Iterable[str],
    *,
    origins: Iterable[Repository] = (),
    jobs: int = DEFAULT_JOBS,
    known: Collection[str] = (),
    progress: Progress | None = None,
) -> PushReport:
    """Push ``root`` and everything it refers to, then tag it with each of ``tags`` (each once).

    Blobs in ``known`` were just uploaded (a streamed layer): they are neither checked nor reported.
    """
    log = get_logger()
    candidates = tuple(dict.fromkeys(origins))

    def finished(blob: BlobFile, how: str) -> None:
        if progress is not None:
            progress.done(blob.digest, blob.size, how)

    uploaded: list[str] = []
    existing: list[str] = []
    mounted: list[str] = []

    def push_blob(blob: BlobFile) -> None:
        if target.blob_exists(blob.digest):
            log.debug("existing blob: %s", blob.digest)
            existing.append(blob.digest)
            finished(blob, "existing")
            return
        for origin in candidates:
            try:
                was_mounted = target.mount_blob(blob.digest, origin)
            except ResourceError as err:
                # A mount is only a shortcut: no read access there, or a refusal, means upload.
                log.debug("cannot mount %s from %s: %s", blob.digest, origin, err)
                continue
            if was_mounted:
                log.debug("mounted blob: %s from %s", blob.digest, origin)
                mounted.append(blob.digest)
                finished(blob, "mounted")
                return
        target.upload_blob(blob.digest, blob.size, lambda: open_blob(blob))
        log.debug("pushed blob: %s", blob.digest)
        uploaded.append(blob.digest)
        if progress is not None:
            progress.advance(blob.size)
        finished(blob, "uploaded")

    manifests: list[str] = []

    def put(ref: str, node: ManifestNode) -> None:
        digest = target.put_manifest(ref, node.body, node.media_type)
        if digest and digest != node.digest:
            raise IntegrityError(
                f"the registry stored manifest {ref} as {digest}, but its content is {node.digest}"
            )
        log.debug("%s: digest: %s size: %d", ref, node.digest, len(node.body))
        manifests.append(ref)

    unique_tags = list(dict.fromkeys(tags))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        _all(pool, push_blob, [blob for blob in all_blobs(root) if blob.digest not in known])
        for level in manifest_levels(root):
            _all(pool, lambda node: put(node.digest, node), level)
        _all(pool, lambda tag: put(tag, root), unique_tags)
    return PushReport(tuple(uploaded), tuple(existing), tuple(mounted), tuple(manifests))


def _all(pool: concurrent.futures.Executor, work: Callable[[_T], None], items: Iterable[_T]) -> None:
    """Run ``work`` on every item in ``pool``; on a failure, cancel what has not started and raise."""
    futures = [pool.submit(work, item) for item in items]
    try:
        for future in concurrent.futures.as_completed(futures):
            future.result()
    except BaseException:
        for future in futures:
            future.cancel()
        concurrent.futures.wait(futures)
        raise
