"""TUF keys and signatures in Notary's flavour: key ids, server keys, signing and verification.

Owns the cryptography the stub does (``cryptography`` only). Notary's key ids are the SHA-256 of
the canonical JSON of ``{"keytype", "keyval": {"private": null, "public": <base64>}}``; ``ecdsa``
keys carry a DER SubjectPublicKeyInfo, ``ecdsa-x509`` keys a PEM certificate; signatures are
``method: ecdsa`` with the raw ``r || s`` of an ECDSA signature over SHA-256 of the canonical bytes.
This module must never hand a private key out over the wire or in an error message.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from notary_stub._canonical import canonical_json

__all__ = ["PublicKey", "ServerKey", "key_id", "parse_public_key", "verify_signature"]


def key_id(keytype: str, public: bytes) -> str:
    """The TUF key id Notary computes (``TUFKey.ID()``)."""
    document = {"keytype": keytype, "keyval": {"private": None, "public": base64.b64encode(public).decode()}}
    return hashlib.sha256(canonical_json(document)).hexdigest()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key as it appears in root.json or a delegation."""

    keytype: str
    public: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.keytype, self.public)

    def to_json(self) -> dict[str, Any]:
        return {
            "keytype": self.keytype,
            "keyval": {"private": None, "public": base64.b64encode(self.public).decode()},
        }


def parse_public_key(document: Any) -> PublicKey:
    """Read a key object; raises ``ValueError`` when it is not one."""
    if not isinstance(document, dict):
        raise ValueError("a key must be an object")
    keytype = document.get("keytype")
    keyval = document.get("keyval")
    if (
        not isinstance(keytype, str)
        or not isinstance(keyval, dict)
        or not isinstance(keyval.get("public"), str)
    ):
        raise ValueError("a key needs a keytype and a base64 keyval.public")
    try:
        public = base64.b64decode(keyval["public"], validate=True)
    except ValueError as exc:
        raise ValueError("keyval.public is not base64") from exc
    return PublicKey(keytype.lower(), public)


def _crypto_key(key: PublicKey) -> ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey:
    if key.keytype == "ecdsa":
        loaded = serialization.load_der_public_key(key.public)
    elif key.keytype == "ecdsa-x509":
        loaded = x509.load_pem_x509_certificate(key.public).public_key()
    elif key.keytype == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(key.public)
    else:
        raise ValueError(f"unsupported key type {key.keytype}")
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise ValueError(f"a {key.keytype} key must hold an ECDSA public key")
    return loaded


def verify_signature(key: PublicKey, method: str, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` (Notary's encoding for ``method``) signs ``message`` with ``key``."""
    try:
        public = _crypto_key(key)
    except ValueError:
        return False
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            if method.lower() != "eddsa":
                return False
            public.verify(signature, message)
            return True
        if method.lower() != "ecdsa":
            return False
        size = (public.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        public.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, slots=True)
class ServerKey:
    """A key the server holds for a GUN's timestamp or snapshot role (ECDSA P-256)."""

    private_pem: bytes

    @classmethod
    def generate(cls) -> ServerKey:
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cls(pem)

    def _private(self) -> ec.EllipticCurvePrivateKey:
        private = serialization.load_pem_private_key(self.private_pem, password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        return private

    @property
    def public(self) -> PublicKey:
        der = (
            self._private()
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return PublicKey("ecdsa", der)

    def sign(self, message: bytes) -> dict[str, str]:
        """A TUF signature object over ``message`` (already canonical bytes)."""
        der = self._private().sign(message, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return {"keyid": self.public.key_id, "method": "ecdsa", "sig": base64.b64encode(raw).decode()}
