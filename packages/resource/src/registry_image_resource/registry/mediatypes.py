"""Media types of registry documents and the ``Accept`` list (SPEC B.3.6); cheap to import.

This module owns the names only, plus recognising a manifest's type from its bytes when the
registry's ``Content-Type`` does not say. The parsed data model lives in ``manifests.py``, which
``check`` in tag mode never needs. It must never do I/O.
"""

from __future__ import annotations

import json

DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

SCHEMA1_TYPES = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})
IMAGE_TYPES = frozenset({DOCKER_MANIFEST_V2, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})

# The order go-containerregistry sends (SPEC B.3.6).
ACCEPT = ",".join(
    (
        DOCKER_MANIFEST_V1,
        DOCKER_MANIFEST_V1_SIGNED,
        DOCKER_MANIFEST_V2,
        OCI_MANIFEST,
        DOCKER_MANIFEST_LIST,
        OCI_INDEX,
    )
)


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def is_image(media_type: str) -> bool:
    return media_type in IMAGE_TYPES


def detect_media_type(body: bytes, content_type: str | None) -> str:
    """The manifest's media type: the ``Content-Type`` if it is a manifest type, else from the body.

    Registries (and the fake registry's quirk mode) may send no or a generic ``Content-Type``.
    """
    header = (content_type or "").split(";", 1)[0].strip()
    if header in SCHEMA1_TYPES or header in IMAGE_TYPES or header in INDEX_TYPES:
        return header
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return header
    if not isinstance(document, dict):
        return header
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if document.get("schemaVersion") == 1:
        return DOCKER_MANIFEST_V1
    if "manifests" in document:
        return OCI_INDEX
    if "config" in document:
        return OCI_MANIFEST
    return header
