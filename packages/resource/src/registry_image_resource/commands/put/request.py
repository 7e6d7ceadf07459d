"""What ``out`` (a pipeline's ``put``) receives (SPEC B.5): the request, its params, and their decoding.

Frozen dataclasses as in ``protocol.models``, kept with the command so that ``check`` never builds
them; the wire rules are ``protocol.decoding``'s. Every class has a docstring (see
``protocol.models``).
"""

from __future__ import annotations

from dataclasses import dataclass

from registry_image_resource.errors import RequestError
from registry_image_resource.protocol.decoding import (
    Decoder,
    boolean_field,
    object_fields,
    parse_json,
    string_field,
)
from registry_image_resource.protocol.models import Source
from registry_image_resource.protocol.source import source_field

__all__ = ["OutRequest", "PutParams", "decode_out"]


@dataclass(frozen=True, slots=True)
class PutParams:
    """``params`` of ``out`` (a pipeline's ``put``)."""

    image: str = ""
    version: str = ""
    bump_aliases: bool = False
    additional_tags: str = ""
    tag_prefix: str = ""


@dataclass(frozen=True, slots=True)
class OutRequest:
    """What ``out`` receives: the source, and the params naming what to push."""

    source: Source
    params: PutParams = PutParams()


def _put_params(value: object, path: str) -> PutParams:
    values = object_fields(value, path, _PUT_PARAMS_FIELDS) or {}
    params = PutParams(**values)
    if params.tag_prefix and not params.additional_tags:
        # SPEC B.5.3; an existing but empty additional_tags file is checked by ``put``.
        raise RequestError("tag_prefix can only be used when additional_tags are specified")
    return params


_PUT_PARAMS_FIELDS: dict[str, Decoder] = {
    "image": string_field,
    "version": string_field,
    "bump_aliases": boolean_field,
    "additional_tags": string_field,
    "tag_prefix": string_field,
}


def decode_out(raw: bytes) -> OutRequest:
    """``{"source": Source, "params": PutParams}``."""
    values = object_fields(parse_json(raw), "", {"source": source_field, "params": _put_params}) or {}
    return OutRequest(
        source=values.get("source") or source_field(None, "source"),
        params=values.get("params") or PutParams(),
    )
