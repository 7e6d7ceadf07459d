"""The JSON documents of a local image (manifests, indexes, configs) and their descriptors, validated.

Both readers parse what they find through here, so a bad file fails the same way whichever input
it came in: an ``InputError`` naming the file and the field. A descriptor's digest also becomes a
file name, so only a valid digest passes. It must never do I/O.
"""

from __future__ import annotations

import json
from typing import Any

from registry_image_resource.errors import InputError
from registry_image_resource.registry.digests import is_digest
from registry_image_resource.registry.manifests import Descriptor


def parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    """``data`` as a JSON object, or an ``InputError`` naming ``what``."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeError) as err:
        raise InputError(f"{what} is not valid JSON: {err}") from None
    if not isinstance(document, dict):
        raise InputError(f"{what} is not a JSON object")
    return document


def parse_descriptor(value: Any, what: str) -> Descriptor:
    """A descriptor from JSON, validated (the digest also becomes a file name, so it must be safe)."""
    if not isinstance(value, dict):
        raise InputError(f"{what} is not a JSON object")
    media_type = value.get("mediaType", "")
    digest = value.get("digest")
    size = value.get("size")
    urls = value.get("urls") or []
    if not isinstance(media_type, str):
        raise InputError(f"{what}: mediaType is not a string")
    if not isinstance(digest, str) or not is_digest(digest):
        raise InputError(f"{what}: invalid digest {json.dumps(digest)}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InputError(f"{what}: invalid size {json.dumps(size)}")
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise InputError(f"{what}: urls is not a list of strings")
    return Descriptor(media_type, digest, size, urls=tuple(urls))


def is_foreign(descriptor: Descriptor) -> bool:
    """Non-distributable layers are referenced by the manifest but never uploaded (as ggcr does)."""
    return "foreign" in descriptor.media_type or "nondistributable" in descriptor.media_type
