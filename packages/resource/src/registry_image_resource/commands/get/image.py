"""From the version's manifest to the one image ``in`` writes (SPEC B.4.2 image resolution).

This module owns choosing the image: an index (or Docker manifest list) gives the child for the
wanted platform (nested indexes are followed), a schema 1 manifest is refused with ggcr's text,
and anything else is read as an image manifest (some registries send no useful Content-Type).
The config is fetched and verified here too. It must never write to DEST.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from registry_image_resource.errors import RegistryError
from registry_image_resource.protocol.models import Platform
from registry_image_resource.registry.client import Manifest
from registry_image_resource.registry.manifests import (
    SCHEMA1_TYPES,
    ImageConfig,
    ImageManifest,
    is_index,
    parse_config,
    parse_index,
    parse_manifest,
    select_platform,
)

_NESTING_LIMIT = 8


class ManifestSource(Protocol):
    def get_manifest(self, ref: str) -> Manifest: ...

    def fetch_blob(self, digest: str, size: int | None = None) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    """The platform-selected image: its manifest as fetched and parsed."""

    manifest: Manifest
    parsed: ImageManifest


@dataclass(frozen=True, slots=True)
class ImageWithConfig:
    image: ResolvedImage
    config_body: bytes
    config: ImageConfig


def resolve_image(client: ManifestSource, top: Manifest, platform: Platform, name: str) -> ResolvedImage:
    """The image ``top`` stands for on ``platform`` (``name`` is ``registry/path`` for errors)."""
    current = top
    for _ in range(_NESTING_LIMIT):
        media_type = current.media_type
        if media_type in SCHEMA1_TYPES:
            raise RegistryError(
                f'unsupported MediaType: "{media_type}", see '
                "https://github.com/google/go-containerregistry/issues/377"
            )
        if not is_index(media_type):
            return ResolvedImage(current, parse_manifest(current.body, media_type))
        index = parse_index(current.body, media_type)
        child = select_platform(index, platform, f"{name}@{current.digest}")
        current = client.get_manifest(child.digest)
    raise RegistryError(f"index {name}@{top.digest}: indexes nested too deeply")


def with_config(client: ManifestSource, image: ResolvedImage) -> ImageWithConfig:
    descriptor = image.parsed.config
    body = client.fetch_blob(descriptor.digest, descriptor.size)
    return ImageWithConfig(image, body, parse_config(body))
