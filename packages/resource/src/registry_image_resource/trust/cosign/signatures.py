"""The signature tag: its name, and the OCI manifest that holds the signatures.

Owns cosign's tag scheme as cosign (1.x, 2.x, 3.x with its legacy format) and containers/image
read and write it: the tag ``sha256-<hex>.sig`` in the image's own repository points at an OCI
image manifest with one layer per signature. A layer's blob is the simple-signing payload (media
type ``application/vnd.dev.cosign.simplesigning.v1+json``), and its annotation
``dev.cosignproject.cosign/signature`` the base64 ASN.1 ECDSA signature over those bytes. The
config is what go-containerregistry writes for such an image (empty platform, one history entry
and one diff id per layer), so tools that read the config find what they expect.

Appending keeps every existing layer descriptor as it was (a keyless signature's certificate and
bundle annotations included): a signature already there is never replaced. This module does no
I/O; the caller fetches and pushes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry_image_resource.trust.cosign.errors import SignatureError
from registry_image_resource.trust.cosign.keys import PrivateKey
from registry_image_resource.trust.cosign.payload import IMAGE_DIGEST, build_payload

__all__ = [
    "MAX_PAYLOAD_SIZE",
    "MAX_SIGNATURES",
    "OCI_MANIFEST",
    "SIGNATURE_ANNOTATION",
    "SIMPLESIGNING_MEDIA_TYPE",
    "BuiltSignatures",
    "SignatureLayer",
    "SignatureManifest",
    "append_signature",
    "parse_signature_manifest",
    "sign_digest",
    "signature_tag",
]

SIMPLESIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
# containers/image reads at most 4 MiB per signature; a larger "payload" is not one.
MAX_PAYLOAD_SIZE = 4 * 1024 * 1024
# Bounds the work one candidate can cost a check: each layer is a blob download and a verification.
MAX_SIGNATURES = 100
_MAX_MANIFEST_SIZE = 4 * 1024 * 1024
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ZERO_TIME = "0001-01-01T00:00:00Z"


def signature_tag(digest: str) -> str:
    """``sha256:<hex>`` -> ``sha256-<hex>.sig``, the tag cosign and containers/image use."""
    if not IMAGE_DIGEST.fullmatch(digest):
        raise ValueError(f"not a sha256 or sha512 digest: {digest!r}")
    return digest.replace(":", "-", 1) + ".sig"


@dataclass(frozen=True, slots=True)
class SignatureLayer:
    """One signature: where its payload blob is, and the base64 signature (None if absent)."""

    digest: str
    size: int
    media_type: str
    signature: str | None


@dataclass(frozen=True, slots=True)
class SignatureManifest:
    """A parsed signature manifest; ``descriptors`` are the layers exactly as stored."""

    layers: tuple[SignatureLayer, ...]
    descriptors: tuple[dict[str, Any], ...]
    annotations: dict[str, str] | None = None


def parse_signature_manifest(body: bytes, tag: str) -> SignatureManifest:
    """Read the manifest at the signature tag ``tag``; ``SignatureError`` names the tag and the fault."""

    def bad(reason: str) -> SignatureError:
        return SignatureError(f"signature tag {tag}: {reason}")

    if len(body) > _MAX_MANIFEST_SIZE:
        raise bad(f"the manifest is larger than {_MAX_MANIFEST_SIZE} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise bad("the manifest is not JSON") from None
    if not isinstance(document, dict):
        raise bad("the manifest is not a JSON object")
    media_type = document.get("mediaType", OCI_MANIFEST)
    if media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise bad(f"the manifest is a {str(media_type)[:80]}, not an image manifest")
    descriptors = document.get("layers")
    if not isinstance(descriptors, list):
        raise bad('the manifest has no "layers" list')
    if len(descriptors) > MAX_SIGNATURES:
        raise bad(f"{len(descriptors)} signatures, more than the {MAX_SIGNATURES} accepted")
    layers = []
    for number, descriptor in enumerate(descriptors, 1):
        layers.append(_layer(descriptor, number, bad))
    annotations = document.get("annotations")
    if annotations is not None and not (
        isinstance(annotations, dict) and all(isinstance(v, str) for v in annotations.values())
    ):
        raise bad('the manifest\'s "annotations" are not a map of strings')
    return SignatureManifest(tuple(layers), tuple(descriptors), annotations)


def _layer(descriptor: Any, number: int, bad: Callable[[str], SignatureError]) -> SignatureLayer:
    if not isinstance(descriptor, dict):
        raise bad(f"layer {number} is not an object")
    digest, size, media_type = descriptor.get("digest"), descriptor.get("size"), descriptor.get("mediaType")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise bad(f"layer {number} has no valid sha256 digest")
    if type(size) is not int or size < 0:
        raise bad(f"layer {number} has no valid size")
    if not isinstance(media_type, str):
        raise bad(f"layer {number} has no media type")
    annotations = descriptor.get("annotations", {})
    if not isinstance(annotations, dict):
        raise bad(f"layer {number}'s annotations are not an object")
    signature = annotations.get(SIGNATURE_ANNOTATION)
    if signature is not None and not isinstance(signature, str):
        raise bad(f"layer {number}'s {SIGNATURE_ANNOTATION} annotation is not a string")
    return SignatureLayer(digest, size, media_type, signature)


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "size": len(data),
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
    }


@dataclass(frozen=True, slots=True)
class BuiltSignatures:
    """A signature manifest to push: the blobs first (config and the new payload), then the manifest."""

    manifest: bytes
    media_type: str
    blobs: dict[str, bytes]
    added: bool


def append_signature(
    existing: SignatureManifest | None, payload: bytes, signature_b64: str
) -> BuiltSignatures:
    """The signature manifest with one more layer for ``payload`` signed as ``signature_b64``.

    Existing layers are kept verbatim. If the very same payload and signature are already there,
    nothing is added (``added`` is False) and the manifest is rebuilt unchanged in content.
    """
    new = _descriptor(SIMPLESIGNING_MEDIA_TYPE, payload)
    new["annotations"] = {SIGNATURE_ANNOTATION: signature_b64}
    descriptors = list(existing.descriptors) if existing else []
    added = not any(
        d.get("digest") == new["digest"]
        and (d.get("annotations") or {}).get(SIGNATURE_ANNOTATION) == signature_b64
        for d in descriptors
    )
    if added:
        descriptors.append(new)
    config = {
        "architecture": "",
        "created": _ZERO_TIME,
        "history": [{"created": _ZERO_TIME} for _ in descriptors],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]},
        "config": {},
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode("ascii")
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(OCI_CONFIG, config_bytes),
        "layers": descriptors,
    }
    if existing is not None and existing.annotations:
        manifest["annotations"] = existing.annotations
    blobs = {manifest["config"]["digest"]: config_bytes}
    if added:
        blobs[new["digest"]] = payload
    body = json.dumps(manifest, separators=(",", ":")).encode("utf-8")
    return BuiltSignatures(body, OCI_MANIFEST, blobs, added)


def sign_digest(key: PrivateKey, repository_name: str, digest: str) -> tuple[bytes, str]:
    """(payload, base64 signature) signing ``digest`` in ``repository_name`` (no tag) as cosign does."""
    payload = build_payload(repository_name, digest)
    return payload, base64.b64encode(key.sign(payload)).decode("ascii")
