"""Signatures on a registry: reading a digest's ``.sig`` tag to verify it, and pushing a signature.

Owns the registry side of cosign for one repository, through the resource's ``RegistryClient``
(so every request is retried, authenticated and logged like the others): ``verify_digest``
fetches the signature manifest and its payload blobs (each verified against its digest and size
by the client, none larger than ``MAX_PAYLOAD_SIZE``; a blob that is by its digest exactly the
payload cosign writes is not downloaded) and applies ``verify.verify_signatures``;
``push_signature`` appends a signature to the tag, uploading only blobs the registry lacks.

It must never log a key or a password; what it logs is the tag and the key fingerprint.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry_image_resource.errors import NotFoundError
from registry_image_resource.trust.cosign.errors import SignatureError
from registry_image_resource.trust.cosign.keys import PrivateKey, PublicKey
from registry_image_resource.trust.cosign.payload import IMAGE_DIGEST, build_payload
from registry_image_resource.trust.cosign.signatures import (
    MAX_PAYLOAD_SIZE,
    SignatureManifest,
    append_signature,
    parse_signature_manifest,
    sign_digest,
    signature_tag,
)
from registry_image_resource.trust.cosign.verify import SignedPayload, Unverified, Verified, verify_signatures

if TYPE_CHECKING:
    from registry_image_resource.registry.client import RegistryClient

__all__ = ["PushedSignature", "push_signature", "read_signature_manifest", "verify_digest"]


def read_signature_manifest(client: RegistryClient, digest: str) -> SignatureManifest | None:
    """The signature manifest of ``digest``, or None when the ``.sig`` tag does not exist."""
    tag = signature_tag(digest)
    try:
        manifest = client.get_manifest(tag)
    except NotFoundError:
        return None
    return parse_signature_manifest(manifest.body, tag)


def verify_digest(
    client: RegistryClient, keys: Sequence[PublicKey], digest: str, repository_name: str | None = None
) -> Verified | Unverified:
    """Whether ``digest`` in the client's repository carries a signature by one of ``keys``.

    The payload must name ``repository_name`` (default: the client's repository; a mirror's
    client passes the origin's name, which is what was signed). A malformed signature tag is an
    ``Unverified`` with the parser's one-line reason, so that ``check`` can skip the candidate;
    registry and transport failures raise as usual.
    """
    if not IMAGE_DIGEST.fullmatch(digest):
        return Unverified("cosign signs sha256 and sha512 digests only")
    tag = signature_tag(digest)
    try:
        manifest = read_signature_manifest(client, digest)
    except SignatureError as err:
        return Unverified(str(err))
    if manifest is None:
        return Unverified(f"no signature: the tag {tag} does not exist")
    name = repository_name or client.repo.name
    # The payload cosign writes for this repository and digest: a layer whose descriptor names
    # exactly its digest and size holds exactly these bytes (content addressing), so it need not
    # be downloaded. That halves the requests of a check over signed tags.
    expected = build_payload(name, digest)
    expected_digest = "sha256:" + hashlib.sha256(expected).hexdigest()
    layers = []
    for number, layer in enumerate(manifest.layers, 1):
        if layer.digest == expected_digest and layer.size == len(expected):
            layers.append(SignedPayload(expected, layer.signature))
            continue
        if layer.size > MAX_PAYLOAD_SIZE:
            return Unverified(f"signature tag {tag}: layer {number} is larger than {MAX_PAYLOAD_SIZE} bytes")
        payload = client.fetch_blob(layer.digest, layer.size)
        layers.append(SignedPayload(payload, layer.signature))
    result = verify_signatures(layers, keys, name, digest)
    if isinstance(result, Unverified):
        return Unverified(f"signature tag {tag}: {result.reason}")
    return result


@dataclass(frozen=True, slots=True)
class PushedSignature:
    """What ``push_signature`` did: the tag written and whether a new layer was added."""

    tag: str
    added: bool


def push_signature(client: RegistryClient, key: PrivateKey, digest: str) -> PushedSignature:
    """Sign ``digest`` with ``key`` and append the signature to its ``.sig`` tag (kept layers stay)."""
    tag = signature_tag(digest)
    existing = read_signature_manifest(client, digest)
    payload, signature = sign_digest(key, client.repo.name, digest)
    built = append_signature(existing, payload, signature)
    for blob_digest, data in built.blobs.items():
        if not client.blob_exists(blob_digest):
            client.upload_blob(blob_digest, len(data), functools.partial(io.BytesIO, data))
    client.put_manifest(tag, built.manifest, built.media_type)
    return PushedSignature(tag, built.added)
