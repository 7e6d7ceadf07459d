"""Build small test images on disk: layers from a dict of files, OCI layouts, docker-save tarballs.

Owns turning a description (``{"etc/hello": b"hi", "bin/sh": Symlink("busybox")}``) into exact
bytes: deterministic tar layers (sorted entries, fixed mtimes unless given, gzip without a
timestamp), image configs, manifests, indexes, and their on-disk forms. Tests push the results
with skopeo or the resource and compare digests.

It must never talk to a registry or a server, and never produce anything nondeterministic: the
same description always gives the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
REF_NAME = "org.opencontainers.image.ref.name"
DEFAULT_MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z
DEFAULT_CREATED = "2023-11-14T22:13:20Z"


# --- what goes in a layer ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class File:
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = DEFAULT_MTIME


@dataclass(frozen=True, slots=True)
class Dir:
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    mtime: int = DEFAULT_MTIME


@dataclass(frozen=True, slots=True)
class Symlink:
    target: str
    uid: int = 0
    gid: int = 0
    mtime: int = DEFAULT_MTIME


@dataclass(frozen=True, slots=True)
class Hardlink:
    """A hard link to ``target``, a path in the same or an earlier entry of this layer."""

    target: str


@dataclass(frozen=True, slots=True)
class Fifo:
    mode: int = 0o644


@dataclass(frozen=True, slots=True)
class Whiteout:
    """Deletes the path from lower layers (written as ``.wh.<name>``)."""


@dataclass(frozen=True, slots=True)
class OpaqueWhiteout:
    """Hides everything lower layers put in this directory (``<dir>/.wh..wh..opq``)."""


@dataclass(frozen=True, slots=True)
class Raw:
    """A tar entry exactly as given, for hostile or odd layers (``..`` names, devices...)."""

    info: tarfile.TarInfo
    data: bytes = b""


Entry = bytes | str | File | Dir | Symlink | Hardlink | Fifo | Whiteout | OpaqueWhiteout | Raw
Files = Mapping[str, Entry]


def tar_entries(files: Files) -> list[tuple[tarfile.TarInfo, bytes]]:
    """TarInfo and content for each path; insertion order is kept (links may need it)."""
    out: list[tuple[tarfile.TarInfo, bytes]] = []
    for name, entry in files.items():
        if isinstance(entry, Raw):
            out.append((entry.info, entry.data))
            continue
        path = name.strip("/")
        info = tarfile.TarInfo(path)
        info.mtime = DEFAULT_MTIME
        data = b""
        match entry:
            case bytes() | str():
                data = entry.encode() if isinstance(entry, str) else entry
                info.mode = 0o644
            case File():
                data = entry.data
                info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, entry.mtime
            case Dir():
                info.type = tarfile.DIRTYPE
                info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, entry.mtime
            case Symlink():
                info.type = tarfile.SYMTYPE
                info.linkname = entry.target
                info.mode, info.uid, info.gid, info.mtime = 0o777, entry.uid, entry.gid, entry.mtime
            case Hardlink():
                info.type = tarfile.LNKTYPE
                info.linkname = entry.target.strip("/")
            case Fifo():
                info.type = tarfile.FIFOTYPE
                info.mode = entry.mode
            case Whiteout():
                parent, _, base = path.rpartition("/")
                info.name = f"{parent}/.wh.{base}" if parent else f".wh.{base}"
            case OpaqueWhiteout():
                info.name = f"{path}/.wh..wh..opq"
        info.size = len(data)
        out.append((info, data))
    return out


def layer_tar(files: Files) -> bytes:
    """An uncompressed layer tar (PAX format, as Docker and umoci write)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in tar_entries(files):
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True, slots=True)
class Layer:
    blob: Blob
    diff_id: str


def make_layer(files: Files, compression: str = "gzip", *, docker: bool = False) -> Layer:
    """A layer from ``files``; ``compression`` is ``gzip``, ``zstd`` or ``none``."""
    raw = layer_tar(files)
    if compression == "gzip":
        data = gzip.compress(raw, compresslevel=6, mtime=0)
        media_type = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    elif compression == "zstd":
        import zstandard

        data = zstandard.ZstdCompressor(level=3).compress(raw)
        media_type = OCI_LAYER_ZSTD
    elif compression == "none":
        data, media_type = raw, OCI_LAYER_TAR
    else:
        raise ValueError(f"compression must be gzip, zstd or none, not {compression!r}")
    return Layer(blob=Blob(media_type, data), diff_id=sha256(raw))


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# --- images and indexes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Image:
    """One image manifest with its config and layers."""

    config: Blob
    layers: tuple[Layer, ...]
    manifest: Blob
    platform: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return self.manifest.digest

    def blobs(self) -> list[Blob]:
        return [self.config, *(layer.blob for layer in self.layers)]


@dataclass(frozen=True, slots=True)
class Index:
    """An image index over ``images`` (children are pushed before it)."""

    images: tuple[Image, ...]
    manifest: Blob

    @property
    def digest(self) -> str:
        return self.manifest.digest


def build_image(
    layers: Sequence[Files | Layer],
    *,
    architecture: str = "amd64",
    os: str = "linux",
    variant: str | None = None,
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    cmd: Sequence[str] | None = None,
    entrypoint: Sequence[str] | None = None,
    user: str | None = None,
    working_dir: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    created: str | None = DEFAULT_CREATED,
    compression: str = "gzip",
    docker: bool = False,
) -> Image:
    """An image from a list of layers (dicts of files, or prebuilt ``make_layer`` results).

    ``docker=True`` gives Docker schema2 media types instead of OCI ones.
    """
    built = tuple(
        layer if isinstance(layer, Layer) else make_layer(layer, compression, docker=docker)
        for layer in layers
    )
    container_config: dict[str, Any] = {"Env": list(env)}
    if cmd is not None:
        container_config["Cmd"] = list(cmd)
    if entrypoint is not None:
        container_config["Entrypoint"] = list(entrypoint)
    if user is not None:
        container_config["User"] = user
    if working_dir is not None:
        container_config["WorkingDir"] = working_dir
    if labels:
        container_config["Labels"] = dict(labels)
    config: dict[str, Any] = {
        "architecture": architecture,
        "os": os,
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in built]},
        "history": [
            {"created": created or DEFAULT_CREATED, "created_by": "integration/images.py"} for _ in built
        ],
    }
    if variant is not None:
        config["variant"] = variant
    if created is not None:
        config["created"] = created
    config_blob = Blob(DOCKER_CONFIG if docker else OCI_CONFIG, canonical(config))
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [layer.blob.descriptor() for layer in built],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    platform = {"architecture": architecture, "os": os}
    if variant is not None:
        platform["variant"] = variant
    return Image(
        config=config_blob,
        layers=built,
        manifest=Blob(str(manifest["mediaType"]), canonical(manifest)),
        platform=platform,
    )


def build_index(
    images: Sequence[Image], *, docker: bool = False, annotations: Mapping[str, str] | None = None
) -> Index:
    """A multi-platform index over ``images``, each listed with its platform."""
    media_type = DOCKER_LIST if docker else OCI_INDEX
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [image.manifest.descriptor(platform=dict(image.platform)) for image in images],
    }
    if annotations:
        index["annotations"] = dict(annotations)
    return Index(images=tuple(images), manifest=Blob(media_type, canonical(index)))


# --- on disk --------------------------------------------------------------------------------------


def write_blob(root: Path, blob: Blob) -> None:
    path = root / "blobs" / "sha256" / blob.digest.removeprefix("sha256:")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob.data)


def write_oci_layout(directory: Path, tagged: Mapping[str, Image | Index]) -> Path:
    """An OCI image layout at ``directory`` with one ``index.json`` entry per tag.

    ``tagged`` maps a tag (``org.opencontainers.image.ref.name``) to an image or index; skopeo
    reads it as ``oci:DIR:TAG``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    entries = []
    for tag, item in tagged.items():
        images = item.images if isinstance(item, Index) else (item,)
        for image in images:
            for blob in image.blobs():
                write_blob(directory, blob)
            write_blob(directory, image.manifest)
        write_blob(directory, item.manifest)
        entries.append(item.manifest.descriptor(annotations={REF_NAME: tag}))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    (directory / "index.json").write_bytes(canonical(index))
    return directory


def write_docker_archive(
    path: Path, image: Image, repo_tags: Sequence[str] = (), *, compressed: bool = False
) -> Path:
    """A ``docker save`` tarball (classic layout: ``manifest.json``, ``<id>/layer.tar``).

    Layers are stored uncompressed as ``docker save`` does, unless ``compressed`` (the stored
    blob as is, which newer tools also accept). ``repo_tags`` are like ``"repo:tag"``.
    """
    config_name = image.config.digest.removeprefix("sha256:") + ".json"
    members: list[tuple[str, bytes]] = [(config_name, image.config.data)]
    layer_names = []
    for layer in image.layers:
        layer_id = layer.diff_id.removeprefix("sha256:")
        data = layer.blob.data if compressed else decompress(layer.blob)
        name = f"{layer_id}/layer.tar"
        members.append((name, data))
        layer_names.append(name)
    manifest = [{"Config": config_name, "RepoTags": list(repo_tags) or None, "Layers": layer_names}]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    repositories: dict[str, dict[str, str]] = {}
    last_layer = image.layers[-1].diff_id.removeprefix("sha256:") if image.layers else ""
    for repo_tag in repo_tags:
        repo, _, tag = repo_tag.rpartition(":")
        repositories.setdefault(repo, {})[tag] = last_layer
    if repositories:
        members.append(("repositories", json.dumps(repositories).encode()))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), DEFAULT_MTIME, 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def decompress(blob: Blob) -> bytes:
    if blob.media_type.endswith("gzip"):
        return gzip.decompress(blob.data)
    if blob.media_type.endswith("zstd"):
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(blob.data)
    return blob.data
