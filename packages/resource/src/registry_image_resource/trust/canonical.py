"""Canonical JSON exactly as Notary writes it (``github.com/docker/go/canonical/json``).

Owns the byte encoding that TUF signatures are computed over. It must never use
``json.dumps`` for signed bytes: Notary's canonical form writes every string byte raw except
``\\`` and ``"`` (control characters included, no ``\\u`` escapes, no HTML escaping), and writes
numbers as integers only. Python's ``json`` escapes control characters and (by default) non-ASCII,
and securesystemslib's OLPC canonical form refuses some values Notary accepts, so a signature
made over either would not verify in the Go client for every input. The encoder is written by
hand to match the Go code byte for byte. (The notary-stub package has the same encoder; the
resource must not depend on a test tool, so each package keeps its own copy.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CanonicalJSONError", "canonical_json"]


class CanonicalJSONError(ValueError):
    """A value that Notary's canonical encoder refuses (fractional number, unknown type)."""


def _string(text: str, out: list[bytes]) -> None:
    out.append(b'"')
    out.append(text.encode("utf-8").replace(b"\\", b"\\\\").replace(b'"', b'\\"'))
    out.append(b'"')


def _encode(value: Any, out: list[bytes]) -> None:
    if value is None:
        out.append(b"null")
    elif value is True:
        out.append(b"true")
    elif value is False:
        out.append(b"false")
    elif isinstance(value, int):
        out.append(str(value).encode())
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise CanonicalJSONError(f"canonical JSON cannot encode the number {value!r}")
        out.append(str(int(value)).encode())
    elif isinstance(value, str):
        _string(value, out)
    elif isinstance(value, Mapping):
        out.append(b"{")
        for index, key in enumerate(sorted(value)):
            if not isinstance(key, str):
                raise CanonicalJSONError(f"canonical JSON object keys must be strings, got {key!r}")
            if index:
                out.append(b",")
            _string(key, out)
            out.append(b":")
            _encode(value[key], out)
        out.append(b"}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append(b"[")
        for index, item in enumerate(value):
            if index:
                out.append(b",")
            _encode(item, out)
        out.append(b"]")
    else:
        raise CanonicalJSONError(f"canonical JSON cannot encode a {type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    """Encode ``value`` (parsed JSON: dict, list, str, int, integral float, bool, None)."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)
