"""Cosign signatures seeded into a fake registry, good or bad on purpose.

Owns ``cosign_sign``: it signs a stored manifest the way ``cosign sign --key`` does, so that
projects can test their own verification offline. The signature goes where cosign and
containers/image look: the tag ``sha256-<hex>.sig`` in the same repository, an OCI image manifest
with one layer per signature (the simple-signing payload as the blob, media type
``application/vnd.dev.cosign.simplesigning.v1+json``, the base64 ASN.1 ECDSA-P256-SHA256 signature
in the annotation ``dev.cosignproject.cosign/signature``). Signing again appends a layer, as
cosign does. ``fault`` stores a signature that must not verify.

This is written independently of the resource's own cosign code, so each checks the other. It
stores through the Python API only and never speaks HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fake_registry._errors import RegistryError

if TYPE_CHECKING:
    from fake_registry._registry import FakeRegistry

__all__ = ["CosignFault", "cosign_sign"]

CosignFault = Literal["tampered-payload", "garbage-signature", "no-annotation"]
_PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
_ANNOTATION = "dev.cosignproject.cosign/signature"
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_ZERO_TIME = "0001-01-01T00:00:00Z"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def cosign_sign(
    registry: FakeRegistry,
    repository: str,
    reference: str,
    key: ec.EllipticCurvePrivateKey | str | bytes,
    *,
    docker_reference: str | None = None,
    manifest_digest: str | None = None,
    fault: CosignFault | None = None,
) -> str:
    """Sign the manifest ``reference`` (a tag or digest) in ``repository``; returns the ``.sig`` tag.

    ``key`` is a P-256 private key or an unencrypted PEM of one. The payload names
    ``docker_reference`` (default ``<registry host>/<repository>``, as cosign writes it) and
    ``manifest_digest`` (default: the signed manifest's digest); override them to sign for another
    repository or digest. ``fault``: ``"tampered-payload"`` stores a payload changed after signing,
    ``"garbage-signature"`` an annotation that is base64 but no signature, ``"no-annotation"`` a
    layer without the signature annotation.
    """
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        loaded = serialization.load_pem_private_key(key.encode() if isinstance(key, str) else key, None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise TypeError("cosign_sign needs an ECDSA P-256 private key")
        key = loaded
    digest = registry.manifest(repository, reference).digest
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": docker_reference or f"{registry.host}/{repository}"},
                "image": {"docker-manifest-digest": manifest_digest or digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        },
        separators=(",", ":"),
    ).encode()
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    if fault == "tampered-payload":
        payload = payload.replace(b'"optional":null', b'"optional":{}')
    elif fault == "garbage-signature":
        signature = base64.b64encode(b"not a signature").decode()
    layer: dict[str, Any] = {"mediaType": _PAYLOAD_TYPE, "size": len(payload), "digest": _digest(payload)}
    if fault != "no-annotation":
        layer["annotations"] = {_ANNOTATION: signature}
    tag = digest.replace(":", "-", 1) + ".sig"
    layers = [*_existing_layers(registry, repository, tag), layer]
    config = json.dumps(
        {
            "architecture": "",
            "created": _ZERO_TIME,
            "history": [{"created": _ZERO_TIME} for _ in layers],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [item["digest"] for item in layers]},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    registry.push_blob(repository, payload)
    registry.push_blob(repository, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": _OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": len(config),
            "digest": _digest(config),
        },
        "layers": layers,
    }
    registry.push_manifest(
        repository, json.dumps(manifest, separators=(",", ":")).encode(), _OCI_MANIFEST, tag
    )
    return tag


def _existing_layers(registry: FakeRegistry, repository: str, tag: str) -> list[dict[str, Any]]:
    try:
        stored = registry.manifest(repository, tag)
    except RegistryError:
        return []
    layers = stored.json().get("layers")
    return list(layers) if isinstance(layers, list) else []
