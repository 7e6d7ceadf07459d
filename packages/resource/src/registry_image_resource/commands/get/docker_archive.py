"""``format: oci``: the platform-selected image as a ``docker save`` tarball, ``DEST/image.tar``.

This module owns the tarball's layout (SPEC B.4.4, ggcr ``tarball.Write``): the config named by
its digest, each distinct layer named ``<hex>`` plus ``.tar.gz``/``.tar.zst``/``.tar`` (stored as
downloaded, still compressed), then ``manifest.json``. Every size is known from the manifest, so
the tar is laid out first and the blobs download concurrently straight to their offsets: no
temporary copies. A failed write removes ``image.tar``. It must never hold a layer in memory.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

from registry_image_resource.commands.get.downloads import BlobOpener, Wanted, write_at
from registry_image_resource.commands.get.files import write_file
from registry_image_resource.commands.get.image import ImageWithConfig
from registry_image_resource.commands.get.rootfs import labels_json
from registry_image_resource.protocol.go_json import go_json
from registry_image_resource.registry.manifests import OCI_LAYER, OCI_LAYER_ZSTD

BLOCK = 512
_UNCOMPRESSED = frozenset({OCI_LAYER, "application/vnd.oci.image.layer.nondistributable.v1.tar"})
_ZSTD = frozenset({OCI_LAYER_ZSTD, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"})


def layer_name(digest: str, media_type: str) -> str:
    hex_digest = digest.split(":", 1)[1]
    if media_type in _ZSTD:
        return f"{hex_digest}.tar.zst"
    if media_type in _UNCOMPRESSED:
        return f"{hex_digest}.tar"
    return f"{hex_digest}.tar.gz"


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _padded(size: int) -> int:
    return size + (-size % BLOCK)


def write_docker_archive(
    client: BlobOpener,
    image: ImageWithConfig,
    dest: Path,
    repo_tag: str,
    *,
    concurrency: int,
    progress: Any = None,
) -> None:
    parsed = image.image.parsed
    config_name = parsed.config.digest
    names: list[str] = []
    unique: dict[str, tuple[Wanted, str]] = {}
    for layer in parsed.layers:
        name = layer_name(layer.digest, layer.media_type)
        names.append(name)
        unique.setdefault(layer.digest, (Wanted(layer.digest, layer.size), name))
    manifest = go_json([{"Config": config_name, "RepoTags": [repo_tag], "Layers": names}])

    path = dest / "image.tar"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        offset = 0
        os.pwrite(fd, _header(config_name, len(image.config_body)) + image.config_body, offset)
        offset += BLOCK + _padded(len(image.config_body))
        placements: list[tuple[Wanted, int]] = []
        for wanted, name in unique.values():
            os.pwrite(fd, _header(name, wanted.size), offset)
            placements.append((wanted, offset + BLOCK))
            offset += BLOCK + _padded(wanted.size)
        tail = _header("manifest.json", len(manifest)) + manifest
        tail += b"\0" * (-len(tail) % BLOCK) + b"\0" * (2 * BLOCK)
        os.pwrite(fd, tail, offset)
        os.ftruncate(fd, offset + len(tail))
        write_at(client, fd, placements, concurrency=concurrency, progress=progress)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    write_file(dest / "labels.json", labels_json(dict(image.config.labels)))
