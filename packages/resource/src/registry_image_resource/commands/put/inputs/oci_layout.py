"""Reading an OCI image layout (a directory, or a tarball of one) into a pushable tree (SPEC B.5.5).

``index.json`` is kept byte for byte, so that ``in`` with ``format: oci-layout`` followed by
``out`` of the same directory pushes the same digest. A root index with a single child index is
unwrapped (repeatedly); ``single-image-digest`` selects one image of it. Manifests, indexes and
configs are read and verified against their digests here; layers are only checked for presence
and size (their digest is computed while they upload, once). A layout tarball is our extension:
an ``image`` that is a tar file with ``index.json`` and no ``manifest.json``.

This module must never read a layer into memory, never follow a digest out of ``blobs/``, and
never talk to a registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from registry_image_resource.commands.put.inputs.documents import (
    is_foreign,
    parse_descriptor,
    parse_json_object,
)
from registry_image_resource.commands.put.inputs.tar_index import TarMember, find_member
from registry_image_resource.commands.put.inputs.tree import BlobFile, LoadedImage, ManifestNode, read_range
from registry_image_resource.errors import InputError
from registry_image_resource.registry.digests import digest_of
from registry_image_resource.registry.manifests import (
    IMAGE_TYPES,
    INDEX_TYPES,
    OCI_INDEX,
    SCHEMA1_TYPES,
    Descriptor,
)

_NESTING_LIMIT = 32


class _Store(Protocol):
    """Where the layout's files are: a directory, or members of a tarball."""

    @property
    def what(self) -> str: ...

    def read_file(self, name: str) -> bytes | None: ...

    def blob(self, digest: str) -> BlobFile | None: ...


@dataclass(frozen=True, slots=True)
class _DirStore:
    root: Path
    what: str

    def read_file(self, name: str) -> bytes | None:
        path = self.root / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        except OSError as err:
            raise InputError(f"{self.what}: {name}: {err.strerror}") from None
        return read_range(path, 0, size, f"{self.what}: {name}")

    def blob(self, digest: str) -> BlobFile | None:
        algorithm, _, hex_digest = digest.partition(":")
        path = self.root / "blobs" / algorithm / hex_digest
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        except OSError as err:
            raise InputError(f"{self.what}: blobs/{algorithm}/{hex_digest}: {err.strerror}") from None
        return BlobFile(digest, size, path)


@dataclass(frozen=True, slots=True)
class _TarStore:
    path: Path
    members: dict[str, TarMember]
    what: str

    def read_file(self, name: str) -> bytes | None:
        member = find_member(self.members, name)
        if member is None:
            return None
        return read_range(self.path, member.offset, member.size, f"{self.what}: {name}")

    def blob(self, digest: str) -> BlobFile | None:
        algorithm, _, hex_digest = digest.partition(":")
        member = find_member(self.members, f"blobs/{algorithm}/{hex_digest}")
        if member is None:
            return None
        return BlobFile(digest, member.size, self.path, member.offset)


def load_layout_dir(path: Path) -> LoadedImage:
    """The image or index in the OCI layout directory ``path``."""
    store = _DirStore(path, f"loading {path} as OCI layout")
    if store.read_file("index.json") is None:
        raise InputError(
            f"new index image from path: loading {path} as OCI layout: "
            f"stat {path}/index.json: no such file or directory"
        )
    return LoadedImage(_load(store), _origins_next_to(path))


def load_layout_tar(path: Path, members: dict[str, TarMember]) -> LoadedImage:
    """The image or index in ``path``, a tarball of an OCI layout (``index.json`` at its root)."""
    store = _TarStore(path, members, f"loading {path} as OCI layout tarball")
    return LoadedImage(_load(store), _origins_next_to(path))


def _origins_next_to(path: Path) -> tuple[str, ...]:
    """The repository ``in`` wrote next to its ``oci/`` (or ``image.tar``), a mount candidate."""
    candidate = path.parent / "repository"
    try:
        text = candidate.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError):
        return ()
    return (text,) if text and len(text) < 512 else ()


def _load(store: _Store) -> ManifestNode:
    what = store.what
    body = store.read_file("index.json")
    assert body is not None
    document = parse_json_object(body, f"{what}: index.json")
    descriptors = _index_descriptors(document, f"{what}: index.json")
    declared = document.get("mediaType")
    # ggcr PUTs the root as an OCI index whatever its body says; we keep a Docker list a Docker list.
    media_type = declared if declared in INDEX_TYPES else OCI_INDEX
    digest = digest_of(body, "sha256")

    for _ in range(_NESTING_LIMIT):
        if len(descriptors) != 1 or descriptors[0].media_type not in INDEX_TYPES:
            break
        child = descriptors[0]
        body = _read_manifest(store, child)
        document = parse_json_object(body, f"{what}: index {child.digest}")
        descriptors = _index_descriptors(document, f"{what}: index {child.digest}")
        media_type, digest = child.media_type, child.digest
    else:
        raise InputError(f"{what}: indexes nested more than {_NESTING_LIMIT} deep")

    marker = store.read_file("single-image-digest")
    if marker is not None:
        wanted = marker.decode("utf-8", errors="replace").strip()
        chosen = next((d for d in descriptors if d.digest == wanted), None)
        if chosen is None:
            raise InputError(f"{what}: could not find descriptor in index: {wanted}")
        if chosen.media_type not in IMAGE_TYPES:
            raise InputError(
                f"{what}: single-image-digest {wanted} is not an image manifest: {chosen.media_type}"
            )
        return _node(store, chosen, 0)

    return ManifestNode(body, media_type, digest, *_index_content(store, descriptors, 0))


def _index_descriptors(document: dict[str, Any], what: str) -> list[Descriptor]:
    manifests = document.get("manifests")
    if not isinstance(manifests, list):
        raise InputError(f"{what}: manifests is not a list")
    return [parse_descriptor(m, f"{what}: manifests[{i}]") for i, m in enumerate(manifests)]


def _index_content(
    store: _Store, descriptors: list[Descriptor], depth: int
) -> tuple[tuple[BlobFile, ...], tuple[ManifestNode, ...]]:
    blobs: list[BlobFile] = []
    children: list[ManifestNode] = []
    for descriptor in descriptors:
        if descriptor.media_type in INDEX_TYPES or descriptor.media_type in IMAGE_TYPES:
            children.append(_node(store, descriptor, depth + 1))
        elif descriptor.media_type in SCHEMA1_TYPES:
            raise InputError(f"{store.what}: unsupported media type {descriptor.media_type}")
        else:
            blobs.append(_blob(store, descriptor))
    return tuple(blobs), tuple(children)


def _node(store: _Store, descriptor: Descriptor, depth: int) -> ManifestNode:
    if depth > _NESTING_LIMIT:
        raise InputError(f"{store.what}: indexes nested more than {_NESTING_LIMIT} deep")
    what = f"{store.what}: manifest {descriptor.digest}"
    body = _read_manifest(store, descriptor)
    document = parse_json_object(body, what)
    if descriptor.media_type in INDEX_TYPES:
        blobs, children = _index_content(store, _index_descriptors(document, what), depth)
        return ManifestNode(body, descriptor.media_type, descriptor.digest, blobs, children)
    config = parse_descriptor(document.get("config"), f"{what}: config")
    layers = document.get("layers")
    if not isinstance(layers, list):
        raise InputError(f"{what}: layers is not a list")
    image_blobs = [_blob(store, config)]
    for i, layer in enumerate(layers):
        layer_descriptor = parse_descriptor(layer, f"{what}: layers[{i}]")
        if is_foreign(layer_descriptor) and store.blob(layer_descriptor.digest) is None:
            continue
        image_blobs.append(_blob(store, layer_descriptor))
    unique = {b.digest: b for b in image_blobs}
    return ManifestNode(body, descriptor.media_type, descriptor.digest, tuple(unique.values()))


def _blob(store: _Store, descriptor: Descriptor) -> BlobFile:
    blob = store.blob(descriptor.digest)
    if blob is None:
        raise InputError(f"{store.what}: blob {_blob_name(descriptor.digest)} is missing")
    if blob.size != descriptor.size:
        raise InputError(
            f"{store.what}: blob {_blob_name(descriptor.digest)} has {blob.size} bytes, "
            f"its descriptor says {descriptor.size}"
        )
    return blob


def _read_manifest(store: _Store, descriptor: Descriptor) -> bytes:
    blob = _blob(store, descriptor)
    body = read_range(blob.path, blob.offset, blob.size, f"{store.what}: blob {_blob_name(blob.digest)}")
    algorithm = descriptor.digest.partition(":")[0]
    actual = digest_of(body, algorithm)
    if actual != descriptor.digest:
        raise InputError(
            f"{store.what}: blob {_blob_name(descriptor.digest)} does not match its digest (it is {actual})"
        )
    return body


def _blob_name(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/", 1)


__all__ = ["load_layout_dir", "load_layout_tar"]
