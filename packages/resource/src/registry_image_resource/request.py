"""Decoding and validating the JSON request on stdin into the frozen models (SPEC B.1.2, B.1.3, B.2).

This module owns the wire rules of the request: one JSON value (trailing bytes ignored), keys
matched case-insensitively (exact match preferred), duplicate keys resolved last-wins, ``null`` as
the zero value, unknown keys rejected at every level, strict JSON types (``source.tag`` excepted:
any value becomes its raw JSON text), and the checks that need no I/O. Every failure is a
``RequestError`` naming the field by its full path. It must never do I/O beyond the bytes it is
given, and never put a field's value into an error message when that field can hold a secret.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from registry_image_resource.errors import RequestError
from registry_image_resource.models import (
    CheckRequest,
    ContentTrust,
    Platform,
    RegistryMirror,
    Source,
    Version,
)
from registry_image_resource.reference import parse_registry

if TYPE_CHECKING:  # imported where used: check never builds the in/out classes
    from registry_image_resource.get_put_models import GetParams, InRequest, OutRequest, PutParams

__all__ = [
    "FORMATS",
    "decode_check",
    "decode_in",
    "decode_out",
    "effective_platform",
    "read_request",
    "resolved",
    "secrets_of",
]

FORMATS = ("rootfs", "oci", "oci-layout")
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


def _parse(raw: bytes) -> object:
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

_Decoder = Callable[[object, str], Any]


def _type_error(path: str, expected: str, value: object) -> RequestError:
    return RequestError(f"{PAYLOAD}: {path} must be {expected}, got {_kind(value)}")


def _string(value: object, path: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise _type_error(path, "a string", value)


def _boolean(value: object, path: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise _type_error(path, "a boolean", value)


def _strings(value: object, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _type_error(path, "an array of strings", value)
    return tuple(_string(item, f"{path}[{i}]") for i, item in enumerate(value))


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


def _fields(value: object, path: str, fields: Mapping[str, _Decoder]) -> dict[str, Any] | None:
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


def _platform(value: object, path: str) -> Platform | None:
    values = _fields(value, path, _PLATFORM_FIELDS)
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
    values = _fields(value, path, _MIRROR_FIELDS)
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
    values = _fields(value, path, _CONTENT_TRUST_FIELDS)
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


def _version(value: object, path: str) -> Version | None:
    values = _fields(value, path, _VERSION_FIELDS)
    return None if values is None else Version(**{"tag": "", "digest": "", **values})


def _source(value: object, path: str) -> Source:
    values = _fields(value, path, _SOURCE_FIELDS)
    source = Source() if values is None else Source(**values)
    _check_source(source, path)
    return source


def _get_params(value: object, path: str) -> GetParams:
    from registry_image_resource.get_put_models import GetParams

    values = _fields(value, path, _GET_PARAMS_FIELDS) or {}
    params = GetParams(**values)
    if not params.format:
        return GetParams(format="rootfs", platform=params.platform, skip_download=params.skip_download)
    if params.format not in FORMATS:
        allowed = ", ".join(f"'{f}'" for f in FORMATS)
        raise RequestError(
            f"{path}.format: unknown format provided, must be one of {allowed}: {params.format}"
        )
    return params


def _put_params(value: object, path: str) -> PutParams:
    from registry_image_resource.get_put_models import PutParams

    values = _fields(value, path, _PUT_PARAMS_FIELDS) or {}
    params = PutParams(**values)
    if params.tag_prefix and not params.additional_tags:
        # SPEC B.5.3; an existing but empty additional_tags file is checked by ``put``.
        raise RequestError("tag_prefix can only be used when additional_tags are specified")
    return params


_PLATFORM_FIELDS: dict[str, _Decoder] = {"architecture": _string, "os": _string, "variant": _string}
_MIRROR_FIELDS: dict[str, _Decoder] = {"host": _string, "username": _string, "password": _string}
_CONTENT_TRUST_FIELDS: dict[str, _Decoder] = {
    name: _string
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
_VERSION_FIELDS: dict[str, _Decoder] = {"tag": _string, "digest": _string}
_SOURCE_FIELDS: dict[str, _Decoder] = {
    "repository": _string,
    "insecure": _boolean,
    "tag": _tag,
    "tag_regex": _string,
    "created_at_sort": _boolean,
    "variant": _string,
    "semver_constraint": _string,
    "pre_releases": _boolean,
    "pre_release_prefixes": _strings,
    "label_regex": _string,
    "annotation_regex": _string,
    "username": _string,
    "password": _string,
    "aws_access_key_id": _string,
    "aws_secret_access_key": _string,
    "aws_session_token": _string,
    "aws_region": _string,
    "aws_role_arn": _string,
    "aws_role_arns": _strings,
    "aws_account_id": _string,
    "aws_ecr_registry_id": _string,
    "azure_acr": _boolean,
    "azure_client_id": _string,
    "azure_tenant_id": _string,
    "azure_environment": _string,
    "registry_mirror": _registry_mirror,
    "content_trust": _content_trust,
    "ca_certs": _strings,
    "client_cert": _string,
    "client_key": _string,
    "platform": _platform,
    "debug": _boolean,
}
_GET_PARAMS_FIELDS: dict[str, _Decoder] = {
    "format": _string,
    "platform": _platform,
    "skip_download": _boolean,
}
_PUT_PARAMS_FIELDS: dict[str, _Decoder] = {
    "image": _string,
    "version": _string,
    "bump_aliases": _boolean,
    "additional_tags": _string,
    "tag_prefix": _string,
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


def _check_digest(digest: str, path: str) -> None:
    if not digest:
        raise RequestError(f"{path} must be specified")
    algorithm, _, encoded = digest.partition(":")
    expected = _DIGEST_HEX_LENGTH.get(algorithm)
    if not _DIGEST.fullmatch(digest) or (
        expected is not None and not re.fullmatch(f"[a-f0-9]{{{expected}}}", encoded)
    ):
        raise RequestError(f"{path} is not a valid digest: {json.dumps(digest)}")


# --- requests ---------------------------------------------------------------------------------


def decode_check(raw: bytes) -> CheckRequest:
    """``{"source": Source, "version": Version|null}``."""
    values = _fields(_parse(raw), "", {"source": _source, "version": _version}) or {}
    return CheckRequest(source=values.get("source") or _source(None, "source"), version=values.get("version"))


def decode_in(raw: bytes) -> InRequest:
    """``{"source": Source, "params": GetParams, "version": Version}``; the version digest is required."""
    from registry_image_resource.get_put_models import GetParams, InRequest

    fields: dict[str, _Decoder] = {"source": _source, "params": _get_params, "version": _version}
    values = _fields(_parse(raw), "", fields) or {}
    version: Version = values.get("version") or Version(tag="", digest="")
    _check_digest(version.digest, "version.digest")
    return InRequest(
        source=values.get("source") or _source(None, "source"),
        version=version,
        params=values.get("params") or GetParams(),
    )


def decode_out(raw: bytes) -> OutRequest:
    """``{"source": Source, "params": PutParams}``."""
    from registry_image_resource.get_put_models import OutRequest, PutParams

    values = _fields(_parse(raw), "", {"source": _source, "params": _put_params}) or {}
    return OutRequest(
        source=values.get("source") or _source(None, "source"),
        params=values.get("params") or PutParams(),
    )


# --- platform ---------------------------------------------------------------------------------

# Python's ``platform.machine()`` names to Go's GOARCH (+ GOARM as the OCI variant).
_MACHINE_TO_GO: dict[str, tuple[str, str]] = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "i386": ("386", ""),
    "i486": ("386", ""),
    "i586": ("386", ""),
    "i686": ("386", ""),
    "x86": ("386", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armv8l": ("arm", "v7"),
    "armv7l": ("arm", "v7"),
    "armv7": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armv5tel": ("arm", "v5"),
    "ppc64le": ("ppc64le", ""),
    "ppc64": ("ppc64", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
    "mips64": ("mips64", ""),
    "loongarch64": ("loong64", ""),
}


def runtime_platform(machine: str | None = None) -> Platform:
    """The platform of this machine in Go/OCI names (``x86_64`` -> ``amd64``); the OS is linux."""
    if machine is None:
        import platform as host_platform  # here, not at the top: it compiles regexes on import

        machine = host_platform.machine()
    name = machine.lower()
    architecture, variant = _MACHINE_TO_GO.get(name, (name, ""))
    return Platform(architecture=architecture, os="linux", variant=variant)


def resolved(wanted: Platform | None, runtime: Platform | None = None) -> Platform:
    """``wanted`` with an empty architecture or OS filled from the runtime (SPEC B.2.3).

    The runtime's variant comes along only with its architecture: ``{os: linux}`` on an armv7
    machine wants ``arm/v7``, but ``{architecture: arm}`` wants any arm variant.
    """
    own = runtime or runtime_platform()
    wanted = wanted or Platform()
    if wanted.architecture:
        architecture, variant = wanted.architecture, wanted.variant
    else:
        architecture, variant = own.architecture, wanted.variant or own.variant
    return Platform(architecture=architecture, os=wanted.os or own.os, variant=variant)


def effective_platform(
    source: Source, params: GetParams | None = None, runtime: Platform | None = None
) -> Platform:
    """``params.platform`` replaces ``source.platform`` whole (no per-field merge), then defaults."""
    wanted = params.platform if params is not None and params.platform is not None else source.platform
    return resolved(wanted, runtime)


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
