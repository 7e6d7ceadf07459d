"""What ``in`` (a pipeline's ``get``) receives (SPEC B.4): the request, its params, and their decoding.

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
    check_digest,
    object_fields,
    parse_json,
    platform_field,
    string_field,
    version_field,
)
from registry_image_resource.protocol.models import Platform, Source, Version
from registry_image_resource.protocol.platform import resolved
from registry_image_resource.protocol.source import source_field

__all__ = ["FORMATS", "GetParams", "InRequest", "decode_in", "effective_platform"]

#: ``params.format``: what ``in`` writes into DEST.
FORMATS = ("rootfs", "oci", "oci-layout")


@dataclass(frozen=True, slots=True)
class GetParams:
    """``params`` of ``in`` (a pipeline's ``get``)."""

    format: str = "rootfs"
    platform: Platform | None = None
    skip_download: bool = False


@dataclass(frozen=True, slots=True)
class InRequest:
    """What ``in`` receives: the source, the version to fetch, and how."""

    source: Source
    version: Version
    params: GetParams = GetParams()


def _get_params(value: object, path: str) -> GetParams:
    values = object_fields(value, path, _GET_PARAMS_FIELDS) or {}
    params = GetParams(**values)
    if not params.format:
        return GetParams(format="rootfs", platform=params.platform, skip_download=params.skip_download)
    if params.format not in FORMATS:
        allowed = ", ".join(f"'{f}'" for f in FORMATS)
        raise RequestError(
            f"{path}.format: unknown format provided, must be one of {allowed}: {params.format}"
        )
    return params


_GET_PARAMS_FIELDS: dict[str, Decoder] = {
    "format": string_field,
    "platform": platform_field,
    "skip_download": boolean_field,
}


def decode_in(raw: bytes) -> InRequest:
    """``{"source": Source, "params": GetParams, "version": Version}``; the version digest is required."""
    fields: dict[str, Decoder] = {"source": source_field, "params": _get_params, "version": version_field}
    values = object_fields(parse_json(raw), "", fields) or {}
    version: Version = values.get("version") or Version(tag="", digest="")
    check_digest(version.digest, "version.digest")
    return InRequest(
        source=values.get("source") or source_field(None, "source"),
        version=version,
        params=values.get("params") or GetParams(),
    )


def effective_platform(
    source: Source, params: GetParams | None = None, runtime: Platform | None = None
) -> Platform:
    """``params.platform`` replaces ``source.platform`` whole (no per-field merge), then defaults."""
    wanted = params.platform if params is not None and params.platform is not None else source.platform
    return resolved(wanted, runtime)
