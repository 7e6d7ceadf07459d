"""Cosign signatures (SPEC A.5): keys, the simple-signing payload, the ``.sig`` tag, verification.

The pure core of cosign support, with no I/O: ``keys`` reads and writes cosign's key formats,
``payload`` builds and strictly reads what is signed, ``signatures`` names the signature tag and
builds or parses its manifest, ``verify`` decides whether a digest is signed and by which key.
Importing it loads ``cryptography`` and PyNaCl, so commands import it only when ``source.cosign``
is set.
"""

from registry_image_resource.trust.cosign.errors import CosignKeyError, SignatureError
from registry_image_resource.trust.cosign.keys import (
    KeyPair,
    PrivateKey,
    PublicKey,
    encrypt_private_key,
    generate_key_pair,
    load_private_key,
    load_public_key,
    load_public_keys,
    read_passphrase_file,
)
from registry_image_resource.trust.cosign.payload import build_payload, parse_payload
from registry_image_resource.trust.cosign.signatures import (
    BuiltSignatures,
    SignatureManifest,
    append_signature,
    parse_signature_manifest,
    sign_digest,
    signature_tag,
)
from registry_image_resource.trust.cosign.verify import SignedPayload, Unverified, Verified, verify_signatures

__all__ = [
    "BuiltSignatures",
    "CosignKeyError",
    "KeyPair",
    "PrivateKey",
    "PublicKey",
    "SignatureError",
    "SignatureManifest",
    "SignedPayload",
    "Unverified",
    "Verified",
    "append_signature",
    "build_payload",
    "encrypt_private_key",
    "generate_key_pair",
    "load_private_key",
    "load_public_key",
    "load_public_keys",
    "parse_payload",
    "parse_signature_manifest",
    "read_passphrase_file",
    "sign_digest",
    "signature_tag",
    "verify_signatures",
]
