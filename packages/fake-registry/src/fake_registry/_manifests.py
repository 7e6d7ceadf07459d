"""Manifest media types and the checks a registry makes before it stores a manifest.

Owns parsing of pushed manifests into a :class:`ManifestRecord` plus what they reference. Known
types (Docker v2 and list, OCI manifest and index) are validated like registry:2 does; any other
media type is stored verbatim. Must never touch storage: the caller checks references exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fake_registry._errors import RegistryError
from fake_registry._names import DIGEST_RE
from fake_registry._storage import ManifestRecord

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
MAX_MANIFEST_SIZE = 4 << 20


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    record: ManifestRecord
    blobs: tuple[str, ...]
    children: tuple[str, ...]


def _invalid(reason: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", reason)


def _descriptor(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{where}: not a descriptor")
    digest = value.get("digest")
    if not isinstance(digest, str) or DIGEST_RE.fullmatch(digest) is None:
        raise _invalid(f"{where}: invalid digest")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}: invalid size")
    if not isinstance(value.get("mediaType", ""), str):
        raise _invalid(f"{where}: invalid mediaType")
    return value


def parse_manifest(body: bytes, content_type: str | None, digest: str) -> ParsedManifest:
    """Validate a pushed manifest; unknown media types are accepted as they are."""
    doc: Any = None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    body_type = doc.get("mediaType") if isinstance(doc, dict) else None
    media_type = (content_type or "").split(";")[0].strip() or (
        body_type if isinstance(body_type, str) and body_type else "application/octet-stream"
    )
    if media_type not in IMAGE_TYPES and media_type not in INDEX_TYPES:
        return ParsedManifest(ManifestRecord(digest, media_type, len(body)), (), ())
    if not isinstance(doc, dict):
        raise _invalid("manifest is not a JSON object")
    if doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    if body_type is not None and body_type != media_type:
        raise _invalid(f"mediaType {body_type!r} does not match Content-Type {media_type!r}")
    subject = None
    if "subject" in doc:
        subject = _descriptor(doc["subject"], "subject")["digest"]
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid("artifactType must be a string")
    annotations = doc.get("annotations")
    if annotations is not None and (
        not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values())
    ):
        raise _invalid("annotations must map strings to strings")
    blobs: list[str] = []
    children: list[str] = []
    if media_type in IMAGE_TYPES:
        config = _descriptor(doc.get("config"), "config")
        blobs.append(config["digest"])
        if artifact_type is None:
            artifact_type = config.get("mediaType")
        layers = doc.get("layers", [])
        if not isinstance(layers, list):
            raise _invalid("layers must be a list")
        for i, layer in enumerate(layers):
            desc = _descriptor(layer, f"layers[{i}]")
            if (
                desc.get("urls")
                or desc.get("mediaType") == DOCKER_FOREIGN_LAYER
                or ("nondistributable" in str(desc.get("mediaType", "")))
            ):
                continue
            blobs.append(desc["digest"])
    else:
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise _invalid("manifests must be a list")
        for i, item in enumerate(items):
            children.append(_descriptor(item, f"manifests[{i}]")["digest"])
    record = ManifestRecord(
        digest=digest,
        media_type=media_type,
        size=len(body),
        subject=subject,
        artifact_type=artifact_type,
        annotations=dict(annotations) if annotations else None,
        children=tuple(children),
    )
    return ParsedManifest(record, tuple(blobs), tuple(children))
