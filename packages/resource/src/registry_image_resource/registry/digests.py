"""Content digests: computing them and telling a valid one (``sha256:`` or ``sha512:`` in lower-case hex).

One place for what a digest is, for every command: a digest names a blob or manifest on the
registry and, in ``in`` and ``out``, a file, so a valid one is also a safe file name. It must stay
cheap to import: ``hashlib`` is loaded on first use (a check in tag mode hashes nothing).
"""

from __future__ import annotations

import re

from registry_image_resource.errors import ResourceError

_DIGEST = re.compile(r"(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})")


def is_digest(text: str) -> bool:
    """``sha256:`` + 64 or ``sha512:`` + 128 lower-case hex digits, nothing else."""
    return _DIGEST.fullmatch(text) is not None


def sha256_digest(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_of(data: bytes, algorithm: str) -> str:
    """``data``'s digest with ``algorithm`` (``sha256`` or ``sha512``)."""
    import hashlib

    return f"{algorithm}:" + hashlib.new(algorithm, data).hexdigest()


def require_descriptor_digest(value: object, what: str, error: type[ResourceError]) -> str:
    """``value`` if it is a valid digest, else ``error`` naming the descriptor (``what``): a digest
    goes into request paths and file names, so nothing else (``md5:``, spaces, NUL) passes."""
    if isinstance(value, str) and is_digest(value):
        return value
    shown = repr(value[:80]) if isinstance(value, str) else "missing"
    raise error(f"{what}: descriptor digest {shown} is not sha256:<64 hex> or sha512:<128 hex>")
