"""``format: rootfs``: the image's layers unpacked into ``DEST/rootfs`` plus its metadata files.

This module owns the rootfs output (SPEC B.4.3): layers download concurrently and each is
unpacked while it arrives (``downloads``), in manifest order, through ``unpack`` (safe by
construction); then ``metadata.json`` and ``labels.json``. A layer whose download failed reports
the download's error (a digest mismatch is more telling than the tar error it caused). It must
never write outside ``DEST``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_image_resource.commands.get.downloads import BlobOpener, Downloads, Wanted
from registry_image_resource.commands.get.files import write_file
from registry_image_resource.commands.get.image import ImageWithConfig
from registry_image_resource.errors import ResourceError, UnpackError
from registry_image_resource.protocol.go_json import go_json
from registry_image_resource.unpack import Rootfs, apply_blob

# Layers from this compressed size on are decompressed and parsed in a child process (on another
# core) while this one creates the files; smaller ones are not worth the child's ~30 ms start.
SEPARATE_FROM = 1 << 20


def metadata_json(config: dict[str, Any]) -> bytes:
    """``{"cmd":…,"entrypoint":…,"env":…,"user":…}`` + newline, in that order (absent lists are null)."""
    inner = config.get("config")
    inner = inner if isinstance(inner, dict) else {}
    document = {
        "cmd": inner.get("Cmd"),
        "entrypoint": inner.get("Entrypoint"),
        "env": inner.get("Env"),
        "user": inner.get("User") or "",
    }
    return go_json(document) + b"\n"


def labels_json(labels: dict[str, str]) -> bytes:
    return go_json(dict(sorted(labels.items()))) + b"\n"


def write_rootfs(
    client: BlobOpener,
    image: ImageWithConfig,
    dest: Path,
    *,
    concurrency: int,
    progress: Any = None,
) -> None:
    layers = image.image.parsed.layers
    if layers:
        with Downloads(client, dest, concurrency=concurrency, progress=progress) as downloads:
            pending = downloads.start(Wanted(layer.digest, layer.size) for layer in layers)
            with Rootfs(dest / "rootfs") as rootfs:
                for number, (layer, download) in enumerate(zip(layers, pending, strict=True), start=1):
                    label = f"layer {number}/{len(layers)} {layer.digest}"
                    try:
                        separate = layer.size >= SEPARATE_FROM
                        apply_blob(rootfs, download.open(), label, separate=separate)
                        download.result()
                    except UnpackError as err:
                        failure = _download_failure(download)
                        if failure is not None:
                            raise failure from None
                        raise err.wrap(f"extract {label}") from None
                rootfs.finish()
    write_file(dest / "metadata.json", metadata_json(dict(image.config.raw)))
    write_file(dest / "labels.json", labels_json(dict(image.config.labels)))


def _download_failure(download: Any) -> ResourceError | None:
    try:
        download.result()
    except ResourceError as err:
        return err
    return None
