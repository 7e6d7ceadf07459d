"""The errors of cosign signing and verification.

Two kinds, kept apart as python-tuf keeps transport and validation apart: a key given in the
request cannot be used (``CosignKeyError``, a ``RequestError`` naming the field), or a signature
is missing, malformed or does not verify (``SignatureError``, naming the digest or the signature
tag). Both carry a one-line ``str()``; this module's callers must never put a password or key
bytes into one.
"""

from __future__ import annotations

from registry_image_resource.errors import RequestError, ResourceError

__all__ = ["CosignKeyError", "SignatureError"]


class CosignKeyError(RequestError):
    """A private or public key in ``source.cosign`` cannot be read or is not usable."""


class SignatureError(ResourceError):
    """A signature tag is missing or malformed, or no signature in it verifies."""
