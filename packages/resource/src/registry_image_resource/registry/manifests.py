"""Manifest, index and image-config documents: media types, parsing, platform selection.

This module owns the registry's JSON data model as frozen dataclasses (Docker v2 schema 2 and OCI
manifests and indexes, image configs), the ``Accept`` list of every manifest type (SPEC B.3.6),
and choosing an index child for a platform (SPEC B.2.3 with A.2.6: the variant counts when one is
wanted). It must never do I/O; bodies come in as bytes and are parsed as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from registry_image_resource.errors import RegistryError, ResourceError
from registry_image_resource.protocol.models import Platform
from registry_image_resource.registry.digests import require_descriptor_digest
from registry_image_resource.registry.mediatypes import (
    ACCEPT,
    DOCKER_CONFIG,
    DOCKER_LAYER_FOREIGN,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V2,
    IMAGE_TYPES,
    INDEX_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    SCHEMA1_TYPES,
    detect_media_type,
    is_image,
    is_index,
)

# Media types are re-exported: they belong to this data model (``mediatypes`` is the cheap import).
__all__ = [
    "ACCEPT",
    "DEFAULT_CHILD_PLATFORM",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_FOREIGN",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_MANIFEST_V1",
    "DOCKER_MANIFEST_V1_SIGNED",
    "DOCKER_MANIFEST_V2",
    "IMAGE_TYPES",
    "INDEX_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "SCHEMA1_TYPES",
    "Descriptor",
    "ImageConfig",
    "ImageIndex",
    "ImageManifest",
    "PlatformSpec",
    "detect_media_type",
    "is_image",
    "is_index",
    "parse_config",
    "parse_index",
    "parse_manifest",
    "platform_matches",
    "select_platform",
    "wanted_text",
]


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    """An index child's ``platform`` object."""

    architecture: str
    os: str
    variant: str = ""
    os_version: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


DEFAULT_CHILD_PLATFORM = PlatformSpec(architecture="amd64", os="linux")


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: PlatformSpec | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None


@dataclass(frozen=True, slots=True)
class ImageIndex:
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The fields the resource reads from an image config; ``raw`` keeps the whole document."""

    created: str | None
    architecture: str
    os: str
    variant: str
    labels: Mapping[str, str]
    raw: Mapping[str, Any]


def _load(body: bytes, what: str, error: type[ResourceError]) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise error(f"{what}: invalid JSON: {err}") from None
    if not isinstance(document, dict):
        raise error(f"{what}: expected a JSON object")
    return document


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


def _descriptor(value: Any, what: str, error: type[ResourceError]) -> Descriptor:
    if not isinstance(value, dict):
        raise error(f"{what}: descriptor is not an object")
    digest = require_descriptor_digest(value.get("digest"), what, error)
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise error(f"{what}: descriptor {digest} without a valid size")
    platform = None
    raw_platform = value.get("platform")
    if isinstance(raw_platform, dict):
        platform = PlatformSpec(
            architecture=str(raw_platform.get("architecture", "")),
            os=str(raw_platform.get("os", "")),
            variant=str(raw_platform.get("variant", "") or ""),
            os_version=str(raw_platform.get("os.version", "") or ""),
        )
    urls = value.get("urls")
    return Descriptor(
        media_type=str(value.get("mediaType", "")),
        digest=digest,
        size=size,
        platform=platform,
        annotations=_string_map(value.get("annotations")),
        urls=tuple(u for u in urls if isinstance(u, str)) if isinstance(urls, list) else (),
    )


def parse_manifest(
    body: bytes, media_type: str = "", *, what: str = "manifest", error: type[ResourceError] = RegistryError
) -> ImageManifest:
    """An image manifest (Docker v2 schema 2 or OCI). Schema 1 is refused with a clear error."""
    document = _load(body, what, error)
    declared = media_type or str(document.get("mediaType", "")) or OCI_MANIFEST
    if declared in SCHEMA1_TYPES or document.get("schemaVersion") == 1:
        raise error(f"{what}: unsupported Docker image manifest schema 1 ({declared})")
    if "config" not in document:
        raise error(f"{what}: not an image manifest (media type {declared or 'unknown'})")
    layers = document.get("layers")
    if not isinstance(layers, list):
        raise error(f"{what}: manifest has no layers list")
    subject = document.get("subject")
    return ImageManifest(
        media_type=declared,
        config=_descriptor(document.get("config"), f"{what}: config", error),
        layers=tuple(_descriptor(layer, f"{what}: layers[{i}]", error) for i, layer in enumerate(layers)),
        annotations=_string_map(document.get("annotations")),
        subject=_descriptor(subject, f"{what}: subject", error) if isinstance(subject, dict) else None,
    )


def parse_index(
    body: bytes, media_type: str = "", *, what: str = "index", error: type[ResourceError] = RegistryError
) -> ImageIndex:
    document = _load(body, what, error)
    manifests = document.get("manifests")
    if not isinstance(manifests, list):
        raise error(f"{what}: index has no manifests list")
    return ImageIndex(
        media_type=media_type or str(document.get("mediaType", "")) or OCI_INDEX,
        manifests=tuple(
            _descriptor(child, f"{what}: manifests[{i}]", error) for i, child in enumerate(manifests)
        ),
        annotations=_string_map(document.get("annotations")),
    )


def parse_config(
    body: bytes, *, what: str = "image config", error: type[ResourceError] = RegistryError
) -> ImageConfig:
    document = _load(body, what, error)
    inner = document.get("config")
    labels = _string_map(inner.get("Labels")) if isinstance(inner, dict) else {}
    created = document.get("created")
    return ImageConfig(
        created=created if isinstance(created, str) and created else None,
        architecture=str(document.get("architecture", "") or ""),
        os=str(document.get("os", "") or ""),
        variant=str(document.get("variant", "") or ""),
        labels=labels,
        raw=document,
    )


def _variant_matches(architecture: str, wanted: str, have: str) -> bool:
    if not wanted or wanted == have:
        return True
    # arm64 images rarely say "v8": an absent variant is arm64's default (as containerd normalises).
    return architecture == "arm64" and {wanted, have} == {"v8", ""}


def platform_matches(child: PlatformSpec | None, wanted: Platform) -> bool:
    have = child or DEFAULT_CHILD_PLATFORM
    return (
        have.architecture == wanted.architecture
        and have.os == wanted.os
        and _variant_matches(have.architecture, wanted.variant, have.variant)
    )


def wanted_text(wanted: Platform) -> str:
    return "/".join(p for p in (wanted.os, wanted.architecture, wanted.variant) if p)


def select_platform(
    index: ImageIndex, wanted: Platform, ref: str, *, error: type[ResourceError] = RegistryError
) -> Descriptor:
    """The first child for ``wanted`` (a child without ``platform`` counts as linux/amd64).

    No match is an error listing the platforms the index has.
    """
    for child in index.manifests:
        if platform_matches(child.platform, wanted):
            return child
    have = ", ".join(str(c.platform or DEFAULT_CHILD_PLATFORM) for c in index.manifests) or "none"
    raise error(f"no child with platform {wanted_text(wanted)} in index {ref}; it has: {have}")
