"""The ``source`` object every command shares (SPEC B.2): its fields and sub-objects, the checks
between fields that need no I/O, and every secret it carries in every form a log line could show.

Built on the wire rules and field decoders of ``decoding.py``; like them, every failure is a
``RequestError`` naming the field by its full path, and a field that can hold a secret never has
its value put into an error message.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from registry_image_resource.errors import RequestError
from registry_image_resource.protocol.decoding import (
    Decoder,
    boolean_field,
    object_fields,
    platform_field,
    string_field,
    strings_field,
    tag_field,
)
from registry_image_resource.protocol.models import Source
from registry_image_resource.registry.reference import parse_registry

if TYPE_CHECKING:
    from registry_image_resource.protocol.optional_models import ContentTrust, Cosign, RegistryMirror

__all__ = ["secrets_of", "source_field"]


def source_field(value: object, path: str) -> Source:
    values = object_fields(value, path, _SOURCE_FIELDS)
    source = Source() if values is None else Source(**values)
    _check_source(source, path)
    return source


def _registry_mirror(value: object, path: str) -> RegistryMirror | None:
    values = object_fields(value, path, _MIRROR_FIELDS)
    if values is None:
        return None
    from registry_image_resource.protocol.optional_models import RegistryMirror

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
    from registry_image_resource.protocol.optional_models import ContentTrust

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
    from registry_image_resource.protocol.optional_models import Cosign

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
_SOURCE_FIELDS: dict[str, Decoder] = {
    "repository": string_field,
    "insecure": boolean_field,
    "tag": tag_field,
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
