"""The simple-signing payload that a cosign signature signs.

Owns building the payload exactly as cosign does (sigstore's ``payload.Cosign`` marshalled by Go:
compact JSON, keys in struct order, ``"optional": null``), and reading a payload as strictly as
containers/image does: exactly the fields ``critical`` and ``optional`` at the top; exactly
``type``, ``image`` and ``identity`` in ``critical``; exactly ``docker-manifest-digest`` in
``image`` and ``docker-reference`` in ``identity``; ``optional`` null or an object; no duplicate
keys anywhere. What a signature names is compared here too: the digest exactly, the repository
by name, ignoring a tag or digest in the reference (containers/image writes the tag it signed,
cosign the bare repository) and Docker Hub's aliases.

It must never trust a payload's content before its signature has verified: callers verify the
signature over these exact bytes first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from registry_image_resource.errors import RequestError
from registry_image_resource.registry.reference import parse_repository

__all__ = [
    "IMAGE_DIGEST",
    "SIGNATURE_TYPE",
    "Payload",
    "PayloadError",
    "build_payload",
    "parse_payload",
    "same_repository",
]

SIGNATURE_TYPE = "cosign container image signature"
# What an image digest may be: what the resource accepts as a version digest (sha256, sha512).
IMAGE_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")


class PayloadError(ValueError):
    """The payload is not a cosign simple-signing document; ``str()`` says what is wrong."""


@dataclass(frozen=True, slots=True)
class Payload:
    """What a payload names: the signed manifest digest and the repository reference."""

    docker_reference: str
    manifest_digest: str


def build_payload(repository_name: str, digest: str) -> bytes:
    """The bytes cosign signs for ``repository_name`` (no tag) at ``digest``.

    Go's ``json.Marshal`` escapes ``<``, ``>`` and ``&``; repository names and digests cannot hold
    them, so plain compact JSON is byte-identical.
    """
    if not IMAGE_DIGEST.fullmatch(digest):
        raise ValueError(f"not a sha256 or sha512 digest: {digest!r}")
    document = {
        "critical": {
            "identity": {"docker-reference": repository_name},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": None,
    }
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise PayloadError(f'duplicate key "{key}"')
        result[key] = value
    return result


def _exact(value: Any, fields: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where} is not an object")
    missing = [name for name in fields if name not in value]
    if missing:
        raise PayloadError(f'{where} has no "{missing[0]}" field')
    extra = sorted(set(value) - set(fields))
    if extra:
        raise PayloadError(f'{where} has an unexpected field "{extra[0][:40]}"')
    return value


def parse_payload(data: bytes) -> Payload:
    """Read a payload strictly (see the module docstring); ``PayloadError`` says why not."""
    try:
        document = json.loads(data, object_pairs_hook=_no_duplicates)
    except PayloadError:
        raise
    except ValueError:
        raise PayloadError("the payload is not JSON") from None
    top = _exact(document, ("critical", "optional"), "the payload")
    optional = top["optional"]
    if optional is not None:
        if not isinstance(optional, dict):
            raise PayloadError('"optional" is neither null nor an object')
        timestamp = optional.get("timestamp")
        if "timestamp" in optional and (
            isinstance(timestamp, bool) or not isinstance(timestamp, int | float)
        ):
            raise PayloadError('"optional.timestamp" is not a number')
        if isinstance(timestamp, float) and not timestamp.is_integer():
            raise PayloadError('"optional.timestamp" is not an integer')
        if "creator" in optional and not isinstance(optional["creator"], str):
            raise PayloadError('"optional.creator" is not a string')
    critical = _exact(top["critical"], ("identity", "image", "type"), '"critical"')
    if critical["type"] != SIGNATURE_TYPE:
        shown = json.dumps(critical["type"])[:60]
        raise PayloadError(f'"critical.type" is {shown}, not "{SIGNATURE_TYPE}"')
    image = _exact(critical["image"], ("docker-manifest-digest",), '"critical.image"')
    identity = _exact(critical["identity"], ("docker-reference",), '"critical.identity"')
    digest, reference = image["docker-manifest-digest"], identity["docker-reference"]
    if not isinstance(digest, str):
        raise PayloadError('"critical.image.docker-manifest-digest" is not a string')
    if not isinstance(reference, str):
        raise PayloadError('"critical.identity.docker-reference" is not a string')
    return Payload(docker_reference=reference, manifest_digest=digest)


def same_repository(reference: str, repository_name: str) -> bool:
    """True if the payload's ``reference`` names the repository ``repository_name``.

    ``repository_name`` is ``registry/path`` as the resource writes it (``index.docker.io/library/x``
    for Docker Hub); ``reference`` may carry a tag or digest, and Docker Hub may be spelled
    ``docker.io``, with or without ``library/``.
    """
    name = reference.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash >= 0:
        name = name[:colon]
    if "/" not in name and ":" in name:  # "alpine:3" on Docker Hub
        name = name.split(":", 1)[0]
    try:
        return parse_repository(name).name == parse_repository(repository_name).name
    except RequestError:
        return False
