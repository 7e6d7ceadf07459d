"""Decoding and validating the JSON request on stdin (SPEC B.1.2, B.1.3, B.2): the wire rules,
the ``source`` object every command shares, and the secrets a request carries.

This module owns the wire rules of the request: one JSON value (trailing bytes ignored), keys
matched case-insensitively (exact match preferred), duplicate keys resolved last-wins, ``null`` as
the zero value, unknown keys rejected at every level, strict JSON types (``source.tag`` excepted:
any value becomes its raw JSON text), and the checks that need no I/O. Each command decodes its
own request (``commands/<name>/request.py``) with the field decoders here. Every failure is a
``RequestError`` naming the field by its full path. It must never do I/O beyond the bytes it is
given, and never put a field's value into an error message when that field can hold a secret.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, BinaryIO

from registry_image_resource.errors import RequestError
from registry_image_resource.protocol.models import (
    ContentTrust,
    Cosign,
    Platform,
    RegistryMirror,
    Source,
    Version,
)
from registry_image_resource.registry.reference import parse_registry

__all__ = [
    "PAYLOAD",
    "Decoder",
    "boolean_field",
    "check_digest",
    "object_fields",
    "parse_json",
    "platform_field",
    "read_request",
    "secrets_of",
    "source_field",
    "string_field",
    "strings_field",
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


def _tag(value: object, path: str) -> str:
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


def _registry_mirror(value: object, path: str) -> RegistryMirror | None:
    values = object_fields(value, path, _MIRROR_FIELDS)
    if values is None:
        return None
    mirror = RegistryMirror(**{"host": "", **values})
    if not mirror.host:
        raise RequestError(f"{path}.host must be specified")
    try:
        parse_registry(mirror.host)
    except RequestError as err:
        raise err.wrap(f"{path}.host") from None
    return mirror


def _content_trust(value: object, path: str) -> ContentTrust | None:
    values = object_fields(value, path, _CONTENT_TRUST_FIELDS)
    if values is None:
        return None
    trust = ContentTrust(**values)
    if trust.server and not re.fullmatch(r"https://[^/?#\s]+(/\S*)?", trust.server):
        raise RequestError(f"{path}.server: valid https URL required for trust server, got {trust.server}")
    for name in ("repository_key_id", "repository_key"):
        if not getattr(trust, name):
            raise RequestError(f"{path}.{name} must be specified to sign images")
    if bool(trust.tls_cert) != bool(trust.tls_key):
        raise RequestError(f"{path}.tls_cert and {path}.tls_key must be set together")
    return trust


def _cosign(value: object, path: str) -> Cosign | None:
    """Shape only: the keys are parsed (and ``cryptography`` imported) by the command using them."""
    values = object_fields(value, path, _COSIGN_FIELDS)
    if values is None:
        return None
    cosign = Cosign(**values)
    if cosign.password and not cosign.private_key:
        raise RequestError(f"{path}.password is set but {path}.private_key is not")
    if not cosign.private_key and not cosign.public_keys:
        raise RequestError(
            f"{path}: set private_key (to sign in out) or public_keys (to verify in check and in)"
        )
    if cosign.private_key and not any(t.endswith("PRIVATE KEY") for t in _pem_types(cosign.private_key)):
        raise RequestError(f"{path}.private_key: no PEM private key found")
    for i, pem in enumerate(cosign.public_keys):
        if "PUBLIC KEY" not in _pem_types(pem):
            raise RequestError(f"{path}.public_keys[{i}]: no PEM public key found")
    return cosign


def version_field(value: object, path: str) -> Version | None:
    values = object_fields(value, path, _VERSION_FIELDS)
    return None if values is None else Version(**{"tag": "", "digest": "", **values})


def source_field(value: object, path: str) -> Source:
    values = object_fields(value, path, _SOURCE_FIELDS)
    source = Source() if values is None else Source(**values)
    _check_source(source, path)
    return source


_PLATFORM_FIELDS: dict[str, Decoder] = {
    "architecture": string_field,
    "os": string_field,
    "variant": string_field,
}
_MIRROR_FIELDS: dict[str, Decoder] = {
    "host": string_field,
    "username": string_field,
    "password": string_field,
}
_CONTENT_TRUST_FIELDS: dict[str, Decoder] = {
    name: string_field
    for name in (
        "server",
        "repository_key_id",
        "repository_key",
        "repository_passphrase",
        "tls_key",
        "tls_cert",
        "scopes",
        "username",
        "password",
    )
}
_COSIGN_FIELDS: dict[str, Decoder] = {
    "private_key": string_field,
    "password": string_field,
    "public_keys": strings_field,
}
_VERSION_FIELDS: dict[str, Decoder] = {"tag": string_field, "digest": string_field}
_SOURCE_FIELDS: dict[str, Decoder] = {
    "repository": string_field,
    "insecure": boolean_field,
    "tag": _tag,
    "tag_regex": string_field,
    "created_at_sort": boolean_field,
    "variant": string_field,
    "semver_constraint": string_field,
    "pre_releases": boolean_field,
    "pre_release_prefixes": strings_field,
    "label_regex": string_field,
    "annotation_regex": string_field,
    "username": string_field,
    "password": string_field,
    "aws_access_key_id": string_field,
    "aws_secret_access_key": string_field,
    "aws_session_token": string_field,
    "aws_region": string_field,
    "aws_role_arn": string_field,
    "aws_role_arns": strings_field,
    "aws_account_id": string_field,
    "aws_ecr_registry_id": string_field,
    "azure_acr": boolean_field,
    "azure_client_id": string_field,
    "azure_tenant_id": string_field,
    "azure_environment": string_field,
    "registry_mirror": _registry_mirror,
    "content_trust": _content_trust,
    "cosign": _cosign,
    "ca_certs": strings_field,
    "client_cert": string_field,
    "client_key": string_field,
    "platform": platform_field,
    "debug": boolean_field,
}
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s.*?-----END \1-----", re.DOTALL)
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha512": 128}


def _pem_types(text: str) -> list[str]:
    return [m.group(1) for m in _PEM_BLOCK.finditer(text)]


def _check_source(source: Source, path: str) -> None:
    """Checks between fields and of field contents that need no I/O (SPEC B.2)."""
    if source.aws_role_arn and source.aws_role_arns:
        raise RequestError(f"{path}.aws_role_arn cannot be set at the same time as {path}.aws_role_arns")
    for i, pem in enumerate(source.ca_certs):
        if "CERTIFICATE" not in _pem_types(pem):
            raise RequestError(
                f"{path}.ca_certs[{i}]: failed to append registry certificate: no PEM certificate found"
            )
    if bool(source.client_cert) != bool(source.client_key):
        raise RequestError(f"{path}.client_cert and {path}.client_key must be set together")
    if source.client_cert and "CERTIFICATE" not in _pem_types(source.client_cert):
        raise RequestError(f"{path}.client_cert: no PEM certificate found")
    if source.client_key and not any(t.endswith("PRIVATE KEY") for t in _pem_types(source.client_key)):
        raise RequestError(f"{path}.client_key: no PEM private key found")


def check_digest(digest: str, path: str) -> None:
    if not digest:
        raise RequestError(f"{path} must be specified")
    algorithm, _, encoded = digest.partition(":")
    expected = _DIGEST_HEX_LENGTH.get(algorithm)
    if not _DIGEST.fullmatch(digest) or (
        expected is not None and not re.fullmatch(f"[a-f0-9]{{{expected}}}", encoded)
    ):
        raise RequestError(f"{path} is not a valid digest: {json.dumps(digest)}")


# --- secrets ----------------------------------------------------------------------------------


def secrets_of(source: Source) -> list[str]:
    """Every secret the request carries, in every form a log line could show it.

    Besides the values themselves: their JSON-escaped form, the Basic ``user:password`` base64
    token, and each long line of a multi-line PEM secret (a logged line would show just one).
    """
    values = [source.password, source.aws_secret_access_key, source.aws_session_token, source.client_key]
    basic = [(source.username, source.password)]
    if source.registry_mirror is not None:
        values.append(source.registry_mirror.password)
        basic.append((source.registry_mirror.username, source.registry_mirror.password))
    if source.content_trust is not None:
        trust = source.content_trust
        values += [trust.repository_key, trust.repository_passphrase, trust.tls_key, trust.password]
        basic.append((trust.username, trust.password))
    if source.cosign is not None:
        values += [source.cosign.private_key, source.cosign.password]
    for username, password in basic:
        if password:
            values.append(base64.b64encode(f"{username}:{password}".encode()).decode("ascii"))
    return sorted(_expand(v for v in values if v), key=len, reverse=True)


def _expand(values: Iterable[str]) -> set[str]:
    result: set[str] = set()
    for value in values:
        result.add(value)
        result.add(json.dumps(value, ensure_ascii=False)[1:-1])
        result.add(json.dumps(value)[1:-1])
        for raw_line in value.splitlines():
            line = raw_line.strip()
            if len(line) >= 16 and not line.startswith("-----"):
                result.add(line)
    result.discard("")
    return result
