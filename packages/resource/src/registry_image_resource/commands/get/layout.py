"""``format: oci-layout``: the whole image or index as an OCI image layout in ``DEST/oci``.

This module owns writing the layout (SPEC B.4.5): ``oci-layout``; ``index.json`` equal byte for
byte to the fetched index (so ``sha256(index.json)`` is the version digest and ``out`` pushes the
same digest back), or a new index wrapping a single image plus ``single-image-digest``; and every
manifest, index, config and layer of every platform under ``blobs/<alg>/<hex>``. Layers and
configs download concurrently, each into a temporary name renamed once verified; a blob already
present with the right digest is kept. It must never write outside ``DEST/oci`` and never trust a
digest as a path without checking its shape.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from registry_image_resource.commands.get.downloads import CHUNK
from registry_image_resource.commands.get.files import umasked, write_file
from registry_image_resource.errors import RegistryError
from registry_image_resource.protocol.go_json import go_json
from registry_image_resource.registry.client import Manifest
from registry_image_resource.registry.manifests import (
    IMAGE_TYPES,
    INDEX_TYPES,
    OCI_INDEX,
    SCHEMA1_TYPES,
    parse_index,
    parse_manifest,
)

OCI_LAYOUT = b'{\n    "imageLayoutVersion": "1.0.0"\n}'
_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$")
_NESTING_LIMIT = 8


class LayoutClient(Protocol):
    def get_manifest(self, ref: str) -> Manifest: ...

    def open_blob(self, digest: str, size: int | None = None, offset: int = 0) -> Any: ...


def _blob_path(root: Path, digest: str) -> Path:
    if not _DIGEST.match(digest):
        raise RegistryError(f"invalid digest {digest!r} in manifest")
    algorithm, hex_digest = digest.split(":", 1)
    return root / "blobs" / algorithm / hex_digest


def _matches(path: Path, digest: str, size: int) -> bool:
    try:
        if path.stat().st_size != size:
            return False
    except FileNotFoundError:
        return False
    algorithm, expected = digest.split(":", 1)
    hasher = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest() == expected


def _write_blob_bytes(root: Path, digest: str, data: bytes) -> None:
    path = _blob_path(root, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, data, umasked(0o666))


class _Collector:
    """Walks manifests (fetched, verified) and gathers the blobs still to download."""

    def __init__(self, client: LayoutClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.blobs: dict[str, int] = {}
        self.seen: set[str] = set()

    def manifest(self, manifest: Manifest, depth: int = 0) -> None:
        if depth > _NESTING_LIMIT:
            raise RegistryError("indexes nested too deeply")
        _write_blob_bytes(self.root, manifest.digest, manifest.body)
        media_type = manifest.media_type
        if media_type in SCHEMA1_TYPES:
            raise RegistryError(f"remote index or image: unsupported media type: {media_type}")
        if media_type in INDEX_TYPES:
            index = parse_index(manifest.body, media_type)
            for child in index.manifests:
                if child.digest in self.seen:
                    continue
                self.seen.add(child.digest)
                if child.media_type in INDEX_TYPES or child.media_type in IMAGE_TYPES:
                    self.manifest(self.client.get_manifest(child.digest), depth + 1)
                else:
                    self.blobs.setdefault(child.digest, child.size)
            return
        image = parse_manifest(manifest.body, media_type)
        self.blobs.setdefault(image.config.digest, image.config.size)
        for layer in image.layers:
            self.blobs.setdefault(layer.digest, layer.size)


def _download(client: LayoutClient, root: Path, digest: str, size: int, progress: Any) -> None:
    path = _blob_path(root, digest)
    if _matches(path, digest, size):
        if progress is not None:
            progress.advance(digest, size)
            progress.done(digest)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        with client.open_blob(digest, size) as reader:
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            while count := reader.readinto(view):
                chunk = view[:count]
                while chunk:
                    chunk = chunk[os.write(fd, chunk) :]
                if progress is not None:
                    progress.advance(digest, count)
        os.close(fd)
        fd = -1
        os.replace(temporary, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress.done(digest)


def write_layout(
    client: LayoutClient,
    top: Manifest,
    dest: Path,
    *,
    concurrency: int,
    progress_for: Callable[[dict[str, int]], Any] | None = None,
) -> None:
    root = dest / "oci"
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    media_type = top.media_type
    if media_type in SCHEMA1_TYPES:
        raise RegistryError(f"remote index or image: unsupported media type: {media_type}")
    if media_type not in INDEX_TYPES and media_type not in IMAGE_TYPES:
        # As in ``rootfs``/``oci``: a manifest without a known type must at least parse as an image.
        parse_manifest(top.body, media_type)
    collector = _Collector(client, root)
    collector.manifest(top)
    progress = progress_for(collector.blobs) if progress_for is not None else None
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="download") as pool:
        futures = [
            pool.submit(_download, client, root, digest, size, progress)
            for digest, size in collector.blobs.items()
        ]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    if progress is not None:
        progress.close()
    mode = umasked(0o777)
    write_file(root / "oci-layout", OCI_LAYOUT, mode)
    if media_type in INDEX_TYPES:
        write_file(root / "index.json", top.body, mode)
        return
    image = parse_manifest(top.body, media_type)
    descriptor: dict[str, Any] = {"mediaType": media_type, "size": len(top.body), "digest": top.digest}
    if image.annotations:
        descriptor["annotations"] = dict(image.annotations)
    if image.config.media_type:
        descriptor["artifactType"] = image.config.media_type
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
    write_file(root / "index.json", go_json(index), mode)
    write_file(root / "single-image-digest", top.digest.encode(), mode)
