"""The ``in`` (get) and ``out`` (put) requests: frozen dataclasses, as in ``models.py``.

Kept apart from ``models.py`` so that ``check`` never builds these classes (``dataclass`` costs
about a millisecond per class at import time); the same rules hold: decoding and validation live
in ``request.py``, secret fields are excluded from ``repr``, and every class has a docstring.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry_image_resource.models import Platform, Source, Version


@dataclass(frozen=True, slots=True)
class GetParams:
    """``params`` of ``in`` (a pipeline's ``get``)."""

    format: str = "rootfs"
    platform: Platform | None = None
    skip_download: bool = False


@dataclass(frozen=True, slots=True)
class PutParams:
    """``params`` of ``out`` (a pipeline's ``put``)."""

    image: str = ""
    version: str = ""
    bump_aliases: bool = False
    additional_tags: str = ""
    tag_prefix: str = ""


@dataclass(frozen=True, slots=True)
class InRequest:
    """What ``in`` receives: the source, the version to fetch, and how."""

    source: Source
    version: Version
    params: GetParams = GetParams()


@dataclass(frozen=True, slots=True)
class OutRequest:
    """What ``out`` receives: the source, and the params naming what to push."""

    source: Source
    params: PutParams = PutParams()
