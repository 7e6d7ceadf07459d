"""What ``check`` receives (SPEC B.3): the source and the last version Concourse has, if any."""

from __future__ import annotations

from dataclasses import dataclass

from registry_image_resource.protocol.decoding import object_fields, parse_json, version_field
from registry_image_resource.protocol.models import Source, Version
from registry_image_resource.protocol.source import source_field

__all__ = ["CheckRequest", "decode_check"]


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """What ``check`` receives: the source and the last version Concourse has, if any."""

    source: Source
    version: Version | None = None


def decode_check(raw: bytes) -> CheckRequest:
    """``{"source": Source, "version": Version|null}``."""
    values = object_fields(parse_json(raw), "", {"source": source_field, "version": version_field}) or {}
    return CheckRequest(
        source=values.get("source") or source_field(None, "source"), version=values.get("version")
    )
