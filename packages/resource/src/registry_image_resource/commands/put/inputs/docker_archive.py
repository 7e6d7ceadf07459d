"""Reading a ``docker save`` tarball into a pushable image (SPEC B.5.5).

The tarball is indexed once; the config and compressed layers are pushed straight from their
offsets inside it. Uncompressed layers are gzipped while they are pushed (``commands.put.stream``),
so their digests, and the manifest, are known only afterwards: such an image loads as a
``PendingImage`` that ``complete`` turns into the pushable tree. The manifest is built with
exactly the bytes ggcr's ``tarball.Image`` produces, so a push from Go and from us give the same
digest for compressed layers. This module must never read a layer into memory and never talk to
a registry; everything it finds wrong is an ``InputError`` naming the tarball and the member.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry_image_resource.commands.put.inputs.documents import parse_descriptor, parse_json_object
from registry_image_resource.commands.put.inputs.tar_index import TarMember, find_member
from registry_image_resource.commands.put.inputs.tree import (
    BlobFile,
    LoadedImage,
    ManifestNode,
    PendingImage,
    PlainLayer,
    hash_range,
    read_range,
)
from registry_image_resource.errors import InputError
from registry_image_resource.protocol.go_json import go_json
from registry_image_resource.registry.digests import sha256_digest
from registry_image_resource.registry.manifests import DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_V2
from registry_image_resource.unpack.compression import detect


def load_docker_archive(path: Path, members: dict[str, TarMember]) -> LoadedImage | PendingImage:
    """The image in a ``docker save`` tarball whose member index is ``members``.

    With uncompressed layers, a ``PendingImage``: ``complete`` builds it once they are pushed.
    """
    what = f"loading {path} as tarball"
    entry = find_member(members, "manifest.json")
    if entry is None:
        raise InputError(f"{what}: file manifest.json not found in tar")
    document = _parse_manifest_json(
        read_range(path, entry.offset, entry.size, f"{what}: manifest.json"), what
    )

    config_name = document.get("Config")
    if not isinstance(config_name, str) or config_name == "":
        raise InputError(f"{what}: manifest.json: Config is not a file name")
    config_entry = _member(members, config_name, what)
    config = read_range(path, config_entry.offset, config_entry.size, f"{what}: {config_name}")
    config_document = parse_json_object(config, f"{what}: config {config_name}")

    layer_names = document.get("Layers") or []
    if not isinstance(layer_names, list) or not all(isinstance(n, str) for n in layer_names):
        raise InputError(f"{what}: manifest.json: Layers is not a list of file names")
    layer_sources = document.get("LayerSources") or {}
    if not isinstance(layer_sources, dict):
        raise InputError(f"{what}: manifest.json: LayerSources is not an object")
    diff_ids = _diff_ids(config_document) if layer_sources else []

    config_blob = BlobFile(sha256_digest(config), len(config), path, config_entry.offset)
    layers: list[BlobFile | PlainLayer | tuple[tuple[str, Any], ...]] = []
    for index, layer_name in enumerate(layer_names):
        diff_id = diff_ids[index] if index < len(diff_ids) else None
        if diff_id is not None and diff_id in layer_sources:
            source = layer_sources[diff_id]
            parse_descriptor(source, f"{what}: manifest.json: LayerSources[{diff_id}]")
            layers.append(tuple(go_descriptor(source).items()))
            continue
        layers.append(_layer_blob(path, _member(members, layer_name, what)))

    repo_tags = document.get("RepoTags") or []
    origins = tuple(t for t in repo_tags if isinstance(t, str)) if isinstance(repo_tags, list) else ()
    pending = PendingImage(config_blob, tuple(layers), origins)
    return complete(pending, {}) if not pending.plain_layers else pending


def complete(pending: PendingImage, compressed: Mapping[PlainLayer, tuple[str, int]]) -> LoadedImage:
    """The image to push once each plain layer's gzip ``(digest, size)`` is known."""
    descriptors: list[dict[str, Any]] = []
    blobs = [pending.config]
    for layer in pending.layers:
        if isinstance(layer, tuple):
            descriptors.append(dict(layer))
            continue
        if isinstance(layer, PlainLayer):
            digest, size = compressed[layer]
        else:
            digest, size = layer.digest, layer.size
            blobs.append(layer)
        descriptors.append({"mediaType": DOCKER_LAYER_GZIP, "size": size, "digest": digest})
    config = pending.config
    manifest = go_json(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_V2,
            "config": {"mediaType": DOCKER_CONFIG, "size": config.size, "digest": config.digest},
            "layers": descriptors,
        }
    )
    root = ManifestNode(manifest, DOCKER_MANIFEST_V2, sha256_digest(manifest), tuple(_unique(blobs)))
    return LoadedImage(root, pending.origins)


def _parse_manifest_json(data: bytes, what: str) -> dict[str, Any]:
    import json

    try:
        document = json.loads(data)
    except (ValueError, UnicodeError) as err:
        raise InputError(f"{what}: manifest.json is not valid JSON: {err}") from None
    if not isinstance(document, list) or not all(isinstance(d, dict) for d in document):
        raise InputError(f"{what}: manifest.json is not a list of images")
    if len(document) != 1:
        raise InputError(f"{what}: tarball must contain only a single image to be used with tarball.Image")
    entry: dict[str, Any] = document[0]
    return entry


def _member(members: dict[str, TarMember], name: str, what: str) -> TarMember:
    member = find_member(members, name)
    if member is None:
        raise InputError(f"{what}: file {name} not found in tar")
    return member


def _diff_ids(config: dict[str, Any]) -> list[str]:
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        return []
    return [d for d in diff_ids if isinstance(d, str)]


def _unique(blobs: list[BlobFile]) -> list[BlobFile]:
    seen: set[str] = set()
    unique = []
    for blob in blobs:
        if blob.digest not in seen:
            seen.add(blob.digest)
            unique.append(blob)
    return unique


def _layer_blob(path: Path, member: TarMember) -> BlobFile | PlainLayer:
    """The layer as pushed: compressed members as they are, plain tars to be gzipped on the way."""
    with open(path, "rb") as file:
        file.seek(member.offset)
        head = file.read(min(4, member.size))
    if detect(head) != "tar":
        return BlobFile(hash_range(path, member.offset, member.size), member.size, path, member.offset)
    return PlainLayer(path, member.offset, member.size)


_DESCRIPTOR_KEYS = ("mediaType", "size", "digest", "data", "urls", "annotations", "platform", "artifactType")
_PLATFORM_KEYS = ("architecture", "os", "os.version", "os.features", "variant", "features")


def go_descriptor(source: dict[str, Any]) -> dict[str, Any]:
    """A descriptor re-encoded the way ggcr's ``v1.Descriptor`` marshals: Go field order, omitempty."""
    out: dict[str, Any] = {"mediaType": source.get("mediaType", ""), "size": source.get("size", 0)}
    out["digest"] = source.get("digest", "")
    for key in _DESCRIPTOR_KEYS[3:]:
        value = source.get(key)
        if not value:
            continue
        if key == "annotations" and isinstance(value, dict):
            value = dict(sorted(value.items()))
        elif key == "platform" and isinstance(value, dict):
            value = {k: value[k] for k in _PLATFORM_KEYS if value.get(k)}
        out[key] = value
    return out
