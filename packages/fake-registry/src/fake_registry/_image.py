"""Building images in Python: layers from a dict of entries, configs, manifests and indexes.

Owns deterministic construction (same input, same digests: fixed tar and gzip timestamps, entries
in the dict's order) of everything a test needs to seed a registry. Layer entry names are used
exactly as given, so tests can build hostile layers (``../x``, absolute names) on purpose.

Must never talk to a registry: pushing is the registry's (``FakeRegistry.push``) or the uploader's
(``fake_registry.upload``) business.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fake_registry._manifests import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
)
from fake_registry._names import digest_of

DEFAULT_MTIME = 1_672_531_200  # 2023-01-01T00:00:00Z: a fixed time keeps digests stable
DEFAULT_CREATED = "2023-01-01T00:00:00Z"
Compression = Literal["gzip", "zstd", "none"]
Format = Literal["oci", "docker"]


@dataclass(frozen=True, slots=True)
class File:
    """A regular file. ``content`` as bytes, or text (UTF-8)."""

    content: bytes | str = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = DEFAULT_MTIME
    uname: str = ""
    gname: str = ""
    xattrs: Mapping[str, str] = field(default_factory=dict)


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
    """A hard link to ``target`` (an earlier entry name in the same layer)."""

    target: str
    uid: int = 0
    gid: int = 0
    mtime: int = DEFAULT_MTIME


@dataclass(frozen=True, slots=True)
class Fifo:
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = DEFAULT_MTIME


@dataclass(frozen=True, slots=True)
class Device:
    """A character (``kind="char"``) or block (``kind="block"``) device node."""

    major: int
    minor: int
    kind: Literal["char", "block"] = "char"
    mode: int = 0o666
    mtime: int = DEFAULT_MTIME


@dataclass(frozen=True, slots=True)
class Whiteout:
    """Deletes the entry at this path from lower layers (written as ``dir/.wh.name``)."""

    mtime: int = DEFAULT_MTIME


@dataclass(frozen=True, slots=True)
class OpaqueWhiteout:
    """Hides everything lower layers put in this directory (written as ``dir/.wh..wh..opq``)."""

    mtime: int = DEFAULT_MTIME


Entry = File | Dir | Symlink | Hardlink | Fifo | Device | Whiteout | OpaqueWhiteout
Files = Mapping[str, "Entry | bytes | str"]


@dataclass(frozen=True, slots=True)
class Layer:
    """A built layer blob. ``diff_id`` is the digest of the uncompressed tar."""

    data: bytes
    media_type: str
    digest: str
    diff_id: str
    annotations: Mapping[str, str] | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self) -> dict[str, Any]:
        desc: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            desc["annotations"] = dict(self.annotations)
        return desc


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image config tests care about. ``created=None`` leaves it out."""

    architecture: str = "amd64"
    os: str = "linux"
    variant: str | None = None
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    user: str = ""
    cmd: Sequence[str] | None = None
    entrypoint: Sequence[str] | None = None
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    created: str | None = DEFAULT_CREATED
    exposed_ports: Sequence[str] = ()
    volumes: Sequence[str] = ()
    stop_signal: str = ""

    @property
    def platform(self) -> dict[str, str]:
        p = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            p["variant"] = self.variant
        return p


@dataclass(frozen=True, slots=True)
class Image:
    """A built image: manifest, config and layers, all as bytes with their digests."""

    manifest: bytes
    media_type: str
    config: bytes
    config_media_type: str
    layers: tuple[Layer, ...]
    platform: Mapping[str, str] | None = None

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def config_digest(self) -> str:
        return digest_of(self.config)

    def blobs(self) -> dict[str, bytes]:
        """Every blob the manifest references, by digest (config first)."""
        out = {self.config_digest: self.config}
        out.update((layer.digest, layer.data) for layer in self.layers)
        return out

    def descriptor(self, *, with_platform: bool = True) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.manifest),
        }
        if with_platform and self.platform:
            desc["platform"] = dict(self.platform)
        return desc


@dataclass(frozen=True, slots=True)
class Index:
    """A built image index (OCI) or manifest list (Docker) and the manifests it lists."""

    manifest: bytes
    media_type: str
    children: tuple[Image | Index, ...]

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.manifest)}


def _tar_info(name: str, entry: Entry) -> tuple[tarfile.TarInfo, bytes | None]:
    if isinstance(entry, Whiteout):
        head, _, base = name.rstrip("/").rpartition("/")
        info = tarfile.TarInfo((head + "/" if head else "") + ".wh." + base)
        info.mtime = entry.mtime
        return info, b""
    if isinstance(entry, OpaqueWhiteout):
        info = tarfile.TarInfo(name.rstrip("/") + "/.wh..wh..opq" if name.strip("/") else ".wh..wh..opq")
        info.mtime = entry.mtime
        return info, b""
    info = tarfile.TarInfo(name)
    info.mtime = entry.mtime
    data: bytes | None = None
    if isinstance(entry, File):
        data = entry.content.encode() if isinstance(entry.content, str) else entry.content
        info.size = len(data)
        info.mode = entry.mode
        info.uname, info.gname = entry.uname, entry.gname
        if entry.xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in entry.xattrs.items()}
    elif isinstance(entry, Dir):
        info.type = tarfile.DIRTYPE
        info.mode = entry.mode
        info.name = name.rstrip("/")
    elif isinstance(entry, Symlink):
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
        info.mode = 0o777
    elif isinstance(entry, Hardlink):
        info.type = tarfile.LNKTYPE
        info.linkname = entry.target
        info.mode = 0o644
    elif isinstance(entry, Fifo):
        info.type = tarfile.FIFOTYPE
        info.mode = entry.mode
    else:
        info.type = tarfile.CHRTYPE if entry.kind == "char" else tarfile.BLKTYPE
        info.devmajor, info.devminor = entry.major, entry.minor
        info.mode = entry.mode
    if not isinstance(entry, Device):
        info.uid, info.gid = entry.uid, entry.gid
    return info, data


def tar_bytes(files: Files) -> bytes:
    """An uncompressed layer tar of ``files`` (name -> entry; bytes or str means a file)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, value in files.items():
            entry: Entry = File(value) if isinstance(value, (bytes, str)) else value
            info, data = _tar_info(name, entry)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def compress(data: bytes, compression: Compression) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        import zstandard

        return bytes(zstandard.ZstdCompressor(level=3).compress(data))
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}: use gzip, zstd or none")


def decompress(layer: Layer) -> bytes:
    """The uncompressed tar of ``layer`` (its media type says how it was compressed)."""
    if layer.media_type.endswith("gzip"):
        return gzip.decompress(layer.data)
    if layer.media_type.endswith("zstd"):
        import zstandard

        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(layer.data))
    return layer.data


def build_layer(
    files: Files,
    compression: Compression = "gzip",
    *,
    format: Format = "oci",
    media_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Layer:
    """A layer blob from ``files``. ``media_type`` overrides the natural one (to mislabel)."""
    raw = tar_bytes(files)
    data = compress(raw, compression)
    if media_type is None:
        if format == "docker" and compression == "gzip":
            media_type = DOCKER_LAYER_GZIP
        else:
            media_type = {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER}[compression]
    return Layer(data, media_type, digest_of(data), digest_of(raw), annotations)


def config_json(config: ImageConfig, layers: Sequence[Layer]) -> bytes:
    inner: dict[str, Any] = {}
    if config.env:
        inner["Env"] = list(config.env)
    if config.user:
        inner["User"] = config.user
    if config.cmd is not None:
        inner["Cmd"] = list(config.cmd)
    if config.entrypoint is not None:
        inner["Entrypoint"] = list(config.entrypoint)
    if config.working_dir:
        inner["WorkingDir"] = config.working_dir
    if config.labels:
        inner["Labels"] = dict(config.labels)
    if config.exposed_ports:
        inner["ExposedPorts"] = {p: {} for p in config.exposed_ports}
    if config.volumes:
        inner["Volumes"] = {v: {} for v in config.volumes}
    if config.stop_signal:
        inner["StopSignal"] = config.stop_signal
    doc: dict[str, Any] = {}
    if config.created is not None:
        doc["created"] = config.created
    doc["architecture"] = config.architecture
    if config.variant:
        doc["variant"] = config.variant
    doc["os"] = config.os
    doc["config"] = inner
    doc["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
    history: dict[str, Any] = {"created_by": "fake-registry"}
    if config.created is not None:
        history["created"] = config.created
    doc["history"] = [dict(history) for _ in layers] or [dict(history, empty_layer=True)]
    return json.dumps(doc, indent=None, separators=(",", ":")).encode()


def build_image(
    layers: Sequence[Files | Layer] = (),
    config: ImageConfig | None = None,
    *,
    format: Format = "oci",
    compression: Compression = "gzip",
    annotations: Mapping[str, str] | None = None,
    subject: Image | Index | Mapping[str, Any] | None = None,
    artifact_type: str | None = None,
    config_bytes: bytes | None = None,
    config_media_type: str | None = None,
) -> Image:
    """An image from layers (dicts of entries, or prebuilt :class:`Layer`) and a config.

    ``config_bytes`` replaces the generated config (for artifacts, e.g. ``b"{}"`` with
    ``config_media_type="application/vnd.oci.empty.v1+json"``). ``subject`` makes it a referrer
    of another manifest (OCI only).
    """
    config = config or ImageConfig()
    built = tuple(
        item if isinstance(item, Layer) else build_layer(item, compression, format=format) for item in layers
    )
    cfg = config_bytes if config_bytes is not None else config_json(config, built)
    if format == "docker":
        media_type, cfg_type = DOCKER_MANIFEST, config_media_type or DOCKER_CONFIG
    else:
        media_type, cfg_type = OCI_MANIFEST, config_media_type or OCI_CONFIG
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = {"mediaType": cfg_type, "digest": digest_of(cfg), "size": len(cfg)}
    doc["layers"] = [layer.descriptor() for layer in built]
    if subject is not None:
        doc["subject"] = subject if isinstance(subject, Mapping) else _plain_descriptor(subject)
    if annotations:
        doc["annotations"] = dict(annotations)
    manifest = json.dumps(doc, separators=(",", ":")).encode()
    platform = config.platform if config_bytes is None else None
    return Image(manifest, media_type, cfg, cfg_type, built, platform)


def _plain_descriptor(item: Image | Index) -> dict[str, Any]:
    return {"mediaType": item.media_type, "digest": item.digest, "size": len(item.manifest)}


def build_index(
    manifests: Sequence[Image | Index],
    *,
    format: Format = "oci",
    annotations: Mapping[str, str] | None = None,
    platforms: Sequence[Mapping[str, str] | None] | None = None,
) -> Index:
    """An index listing ``manifests``; each image's platform comes from its config unless
    ``platforms`` gives one per entry (``None`` leaves an entry without a platform)."""
    media_type = DOCKER_LIST if format == "docker" else OCI_INDEX
    entries = []
    for i, item in enumerate(manifests):
        desc = item.descriptor()
        if platforms is not None:
            desc.pop("platform", None)
            if platforms[i] is not None:
                desc["platform"] = dict(platforms[i] or {})
        entries.append(desc)
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    if annotations:
        doc["annotations"] = dict(annotations)
    return Index(json.dumps(doc, separators=(",", ":")).encode(), media_type, tuple(manifests))


def parse_platform(text: str) -> ImageConfig:
    """``"linux/arm64/v8"`` -> an :class:`ImageConfig` for that platform."""
    parts = text.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"platform {text!r}: expected os/arch[/variant]")
    return ImageConfig(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None)
