"""Where a command really talks to: the source after ECR/ACR, and the registries to try in order.

check, in and out call ``resolve_source`` first (SPEC B.3.1 steps 2-3, B.4.1 step 2, B.5.1 step 2):
with ``aws_region`` set it returns the source rewritten for ECR (repository on the ECR host, user
``AWS`` and the token's password); with ``azure_acr`` the ACR user and refresh token from a Managed
Identity replace ``username``/``password`` (after ECR, as in Go). check and in then run their
fetch through ``mirror_then_origin``: the Docker Hub mirror first when one applies (SPEC B.3.5,
B.4.8), with its own credentials, then the origin. out never uses the mirror.

This module must stay cheap to import (check runs every minute): the ECR module, and with it
boto3, is imported only when the source asks for ECR. It never logs a credential.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from registry_image_resource.errors import RequestError, ResourceError
from registry_image_resource.protocol.models import Source
from registry_image_resource.registry.reference import Repository, mirror_repository, parse_repository

if TYPE_CHECKING:
    from registry_image_resource.registry._http.transport import ConnectOptions

__all__ = ["Attempt", "mirror_attempt", "mirror_then_origin", "origin_attempt", "resolve_source"]

T = TypeVar("T")


def resolve_source(source: Source) -> Source:
    """The source as the registry client should see it, after ECR (and ACR) authentication.

    Without ``aws_region`` or ``azure_acr`` it is ``source`` itself. Errors are ``AuthError``
    starting ``cannot authenticate with ECR``/``ACR``.
    """
    if source.aws_region:
        from registry_image_resource.sources import ecr

        source = ecr.authenticate(source)
    if source.azure_acr:
        from registry_image_resource.sources import acr

        source = acr.authenticate(source)
    return source


@dataclass(frozen=True, slots=True)
class Attempt:
    """One registry to try: the repository there and how to connect to it."""

    repository: Repository
    options: ConnectOptions
    is_mirror: bool = False


def mirror_attempt(source: Source, origin: Repository | None = None) -> Attempt | None:
    """The mirror to try first, or None: no ``registry_mirror``, or not a Docker Hub repository.

    The mirror gets its own credentials (``registry_mirror.username/password``, anonymous when
    empty; never the source's) and the source's TLS settings. ``origin`` is the parsed
    ``source.repository`` when the caller has it already. Errors are ``RequestError`` starting
    ``failed to resolve mirror: `` (SPEC B.3.5).
    """
    mirror = source.registry_mirror
    if mirror is None:
        return None
    if origin is None:
        try:
            origin = parse_repository(source.repository)
        except RequestError as err:
            raise err.wrap("failed to resolve mirror: parse repository") from None
    try:
        repository = mirror_repository(origin, mirror.host)
    except RequestError as err:
        raise err.wrap("failed to resolve mirror") from None
    if repository is None:
        return None
    from registry_image_resource.registry.client import options_from_source

    options = replace(options_from_source(source), username=mirror.username, password=mirror.password)
    return Attempt(repository, options, is_mirror=True)


def origin_attempt(source: Source, repository: Repository) -> Attempt:
    """The origin with the source's own credentials and TLS settings."""
    from registry_image_resource.registry.client import options_from_source

    return Attempt(repository, options_from_source(source))


def _always(result: object) -> bool:
    return True


def mirror_then_origin(
    mirror: Attempt | None,
    origin: Callable[[], Attempt],
    fetch: Callable[[Attempt], T],
    mirror_failed: Callable[[Attempt, ResourceError | None], None],
    *,
    answered: Callable[[T], bool] = _always,
) -> T:
    """``fetch`` from the mirror, if there is one, else (or when it fails) from the origin.

    The mirror's result is used unless ``fetch`` raised a ``ResourceError`` or ``answered`` says
    the mirror had nothing (check: no versions); either way ``mirror_failed`` is told (with
    ``None`` for "nothing there") and the origin is tried. ``origin`` is called only then, so an
    origin that cannot be resolved does not matter when the mirror answers. The origin's errors
    propagate.
    """
    if mirror is not None:
        try:
            result = fetch(mirror)
        except ResourceError as err:
            mirror_failed(mirror, err)
        else:
            if answered(result):
                return result
            mirror_failed(mirror, None)
    return fetch(origin())
