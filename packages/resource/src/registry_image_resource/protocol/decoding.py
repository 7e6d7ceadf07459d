"""Decoding and validating the JSON request on stdin (SPEC B.1.2, B.1.3): the wire rules and the
field decoders every request is built from (``source.py`` builds the shared ``source`` object).

This module owns the wire rules of the request: one JSON value (trailing bytes ignored), keys
matched case-insensitively (exact match preferred), duplicate keys resolved last-wins, ``null`` as
the zero value, unknown keys rejected at every level, strict JSON types (``source.tag`` excepted:
any value becomes its raw JSON text), and the checks that need no I/O. Each command decodes its
own request (``commands/<name>/request.py``) with the field decoders here and ``source.py``.
Every failure is a ``RequestError`` naming the field by its full path. It must never do I/O
beyond the bytes it is given, and never put a field's value into an error message when that
field can hold a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

from registry_image_resource.errors import RequestError
from registry_image_resource.protocol.models import Platform, Version

__all__ = [
    "PAYLOAD",
    "Decoder",
    "boolean_field",
    "check_digest",
    "object_fields",
    "parse_json",
    "platform_field",
    "read_request",
    "string_field",
    "strings_field",
    "tag_field",
    "version_field",
]

PAYLOAD = "invalid payload"


# --- the JSON tree ----------------------------------------------------------------------------
# ``json`` decodes into plain values except numbers (kept as their source text, so ``tag: 1.10``
# stays "1.10") and objects (kept as ordered pairs, so case-folding and duplicates are resolved
# here by the rules of Go's encoding/json rather than by dict insertion).


class _Number:
    """A JSON number, kept as its source text (a node of the parse tree, not a model)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Object:
    """A JSON object, kept as its ordered key/value pairs (a node of the parse tree, not a model)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: tuple[tuple[str, object], ...]) -> None:
        self.pairs = pairs


class _BadConstant(ValueError):
    pass


def _reject_constant(name: str) -> object:
    raise _BadConstant(name)


_DECODER = json.JSONDecoder(
    object_pairs_hook=lambda pairs: _Object(tuple(pairs)),
    parse_int=_Number,
    parse_float=_Number,
    parse_constant=_reject_constant,
)
_JSON_WHITESPACE = " \t\n\r"


def parse_json(raw: bytes) -> object:
    # Go replaces invalid UTF-8 with U+FFFD instead of failing; do the same.
    text = raw.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(_JSON_WHITESPACE))
    if start == len(text):
        raise RequestError(f"{PAYLOAD}: empty request on stdin")
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as err:
        message = err.msg[:1].lower() + err.msg[1:]
        raise RequestError(
            f"{PAYLOAD}: malformed JSON at line {err.lineno} column {err.colno}: {message}"
        ) from None
    except _BadConstant as err:
        raise RequestError(f"{PAYLOAD}: malformed JSON: {err} is not a JSON value") from None
    except RecursionError:
        raise RequestError(f"{PAYLOAD}: malformed JSON: nested too deeply") from None
    return value


def read_request(stream: BinaryIO, chunk_size: int = 65536) -> bytes:
    """Read ``stream`` up to the end of the first JSON value, or to EOF.

    Go's decoder stops reading once it has one value, so a caller that writes the request and
    leaves the pipe open is served; reading to EOF would hang such a caller forever.
    """
    # read1 returns what the pipe has instead of waiting for a full chunk.
    read: Callable[[int], bytes] = getattr(stream, "read1", None) or stream.read
    data = b""
    while chunk := read(chunk_size):
        data += chunk
        if _holds_a_value(data):
            break
    return data


def _holds_a_value(data: bytes) -> bool:
    text = data.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(_JSON_WHITESPACE))
    if start == len(text):
        return False
    try:
        _DECODER.raw_decode(text, start)
    except json.JSONDecodeError:
        return False  # maybe truncated: read on (EOF decides)
    except (_BadConstant, RecursionError):
        return True  # an error whatever follows
    return True


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _Number):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"


def _raw_text(value: object) -> str:
    """The value as compact JSON, numbers exactly as written (Go keeps a ``json.RawMessage``)."""
    if isinstance(value, _Number):
        return value.text
    if isinstance(value, _Object):
        return "{" + ",".join(f"{json.dumps(k)}:{_raw_text(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_raw_text(v) for v in value) + "]"
    return json.dumps(value)


# --- field decoders ---------------------------------------------------------------------------

Decoder = Callable[[object, str], Any]


def _type_error(path: str, expected: str, value: object) -> RequestError:
    return RequestError(f"{PAYLOAD}: {path} must be {expected}, got {_kind(value)}")


def string_field(value: object, path: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise _type_error(path, "a string", value)


def boolean_field(value: object, path: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise _type_error(path, "a boolean", value)


def strings_field(value: object, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _type_error(path, "an array of strings", value)
    return tuple(string_field(item, f"{path}[{i}]") for i, item in enumerate(value))


def tag_field(value: object, path: str) -> str:
    """SPEC B.2.2: a string as is; any other value as its raw JSON text; ``null`` as ""."""
    del path
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _raw_text(value)


def _fold(key: str) -> str:
    # Go folds keys with Unicode simple folding; for our ASCII field names that is lower-casing
    # plus the two non-ASCII letters that fold onto ASCII ones (KELVIN SIGN and LONG S).
    return key.lower().replace("\u017f", "s")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def object_fields(value: object, path: str, fields: Mapping[str, Decoder]) -> dict[str, Any] | None:
    """Decode an object's known fields (``None`` for JSON null); unknown keys are an error."""
    if value is None:
        return None
    if not isinstance(value, _Object):
        raise _type_error(path or "request", "an object", value)
    folded = {_fold(name): name for name in fields}
    result: dict[str, Any] = {}
    for key, item in value.pairs:
        # Exact match first, then case-folded (Go's encoding/json); later duplicates win.
        name = key if key in fields else folded.get(_fold(key))
        if name is None:
            raise RequestError(f"{PAYLOAD}: unknown field {json.dumps(_join(path, key), ensure_ascii=False)}")
        result[name] = fields[name](item, _join(path, name))
    return result


def platform_field(value: object, path: str) -> Platform | None:
    values = object_fields(value, path, _PLATFORM_FIELDS)
    if values is None:
        return None
    architecture: str = values.get("architecture", "")
    variant: str = values.get("variant", "")
    if "/" in architecture:
        # A.2.6: ``arm64/v8`` is architecture ``arm64`` with variant ``v8``.
        arch, _, arch_variant = architecture.partition("/")
        if not arch or not arch_variant or "/" in arch_variant:
            raise RequestError(
                f"{path}.architecture must be ARCH or ARCH/VARIANT, got {json.dumps(architecture)}"
            )
        if variant and variant != arch_variant:
            raise RequestError(
                f"{path}.variant {json.dumps(variant)} conflicts with the variant in "
                f"{path}.architecture {json.dumps(architecture)}"
            )
        architecture, variant = arch, arch_variant
    return Platform(architecture=architecture, os=values.get("os", ""), variant=variant)


def version_field(value: object, path: str) -> Version | None:
    values = object_fields(value, path, _VERSION_FIELDS)
    return None if values is None else Version(**{"tag": "", "digest": "", **values})


_PLATFORM_FIELDS: dict[str, Decoder] = {
    "architecture": string_field,
    "os": string_field,
    "variant": string_field,
}
_VERSION_FIELDS: dict[str, Decoder] = {"tag": string_field, "digest": string_field}
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha512": 128}


def check_digest(digest: str, path: str) -> None:
    if not digest:
        raise RequestError(f"{path} must be specified")
    algorithm, _, encoded = digest.partition(":")
    expected = _DIGEST_HEX_LENGTH.get(algorithm)
    if not _DIGEST.fullmatch(digest) or (
        expected is not None and not re.fullmatch(f"[a-f0-9]{{{expected}}}", encoded)
    ):
        raise RequestError(f"{path} is not a valid digest: {json.dumps(digest)}")
