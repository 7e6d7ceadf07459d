"""Deciding whether a digest is signed: which key verified, or precisely why none did.

Owns the rule that ``check`` and ``in`` apply: a digest is signed when at least one layer of its
signature manifest carries a signature that verifies, with one of ``source.cosign.public_keys``,
over the layer's payload bytes, and that payload (read strictly) names this repository and this
digest. The signature is checked before the payload is read, so nothing in an unverified payload
is believed. When no layer qualifies the reason given is the most telling one: a payload signed
by a trusted key but naming another digest or repository says more than "no key verifies".

It does no I/O: the caller fetches the manifest and the payload blobs (checking their digests).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from registry_image_resource.trust.cosign.keys import PublicKey
from registry_image_resource.trust.cosign.payload import PayloadError, parse_payload, same_repository

__all__ = ["SignedPayload", "Unverified", "Verified", "verify_signatures"]


@dataclass(frozen=True, slots=True)
class SignedPayload:
    """One layer of a signature manifest: its payload bytes and its base64 signature (or None)."""

    payload: bytes
    signature: str | None


@dataclass(frozen=True, slots=True)
class Verified:
    """The digest is signed: ``key`` verified the signature in layer ``layer`` (counting from 1)."""

    key: PublicKey
    layer: int


@dataclass(frozen=True, slots=True)
class Unverified:
    """No layer qualified; ``reason`` is one line saying why."""

    reason: str


# How telling a layer's failure is; the highest wins the message.
_NO_ANNOTATION, _NOT_BASE64, _NO_KEY, _BAD_PAYLOAD, _OTHER_TARGET = range(5)


def verify_signatures(
    layers: Sequence[SignedPayload], keys: Sequence[PublicKey], repository_name: str, digest: str
) -> Verified | Unverified:
    """Verify the layers of ``digest``'s signature manifest in ``repository_name`` (``registry/path``)."""
    if not layers:
        return Unverified("the signature manifest has no signatures")
    worst: tuple[int, str] | None = None
    for number, layer in enumerate(layers, 1):
        outcome = _layer(layer, number, keys, repository_name, digest)
        if isinstance(outcome, Verified):
            return outcome
        if worst is None or outcome[0] > worst[0]:
            worst = outcome
    assert worst is not None
    if len(layers) == 1:
        return Unverified(worst[1])
    return Unverified(f"none of {len(layers)} signatures verifies: {worst[1]}")


def _layer(
    layer: SignedPayload, number: int, keys: Sequence[PublicKey], repository_name: str, digest: str
) -> Verified | tuple[int, str]:
    if layer.signature is None:
        return _NO_ANNOTATION, f"signature {number} has no dev.cosignproject.cosign/signature annotation"
    try:
        raw = base64.b64decode(layer.signature, validate=True)
    except binascii.Error:
        return _NOT_BASE64, f"signature {number} is not valid base64"
    key = next((k for k in keys if k.verify(raw, layer.payload)), None)
    if key is None:
        return _NO_KEY, f"signature {number} does not verify with any key in source.cosign.public_keys"
    try:
        payload = parse_payload(layer.payload)
    except PayloadError as err:
        return _BAD_PAYLOAD, f"signature {number} (key {key.fingerprint}) signs an invalid payload: {err}"
    if payload.manifest_digest != digest:
        shown = payload.manifest_digest[:80]
        return (
            _OTHER_TARGET,
            f"signature {number} (key {key.fingerprint}) is for digest {shown}, not this one",
        )
    if not same_repository(payload.docker_reference, repository_name):
        shown = payload.docker_reference[:200]
        return (
            _OTHER_TARGET,
            f"signature {number} (key {key.fingerprint}) is for repository {shown}, not {repository_name}",
        )
    return Verified(key, number)
