"""``check``: the versions of an image repository, oldest first (SPEC B.3, A.2.4, A.2.9).

This module owns choosing the mode (tag, regex, semver), the registry mirror and its fallback to
the origin, and each mode's selection and ordering of versions. Registry I/O goes through
``registry.client``; version grammar and constraints live in ``versioning``; the mirror
fallback is ``sources.routing.mirror_then_origin``.
It must stay cheap to import (``check`` runs every minute per pipeline): nothing heavy at module
level, and it must never send a request before the request's own fields have been validated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from registry_image_resource.commands.check.request import CheckRequest
from registry_image_resource.errors import RequestError, ResourceError
from registry_image_resource.log import get_logger
from registry_image_resource.protocol.models import Platform, Source, Version
from registry_image_resource.registry.reference import Repository, parse_repository
from registry_image_resource.sources.routing import (
    Attempt,
    mirror_attempt,
    mirror_then_origin,
    origin_attempt,
    resolve_source,
)

if TYPE_CHECKING:
    from datetime import datetime

    from registry_image_resource.registry.client import ConnectOptions, RegistryClient
    from registry_image_resource.trust.cosign import PublicKey
    from registry_image_resource.versioning.constraints import Constraint

_log = get_logger()

T = TypeVar("T")
R = TypeVar("R")

LOOKUP_CONCURRENCY = 8


class _Plan(NamedTuple):
    """What one check against one registry needs, validated before any request."""

    repo: Repository
    options: ConnectOptions
    mode: str  # "tag", "regex" or "semver"
    regex: Any = None
    constraint: Constraint | None = None


def run(request: CheckRequest, *, env: Mapping[str, str] | None = None) -> list[Version]:
    """The check response: the mirror's answer if it has one, else the origin's."""
    environment = os.environ if env is None else env
    mode_parts = _mode_parts(request.source)  # before any request, ECR's included
    keys = _public_keys(request.source)
    source = resolve_source(request.source)

    def origin() -> Attempt:
        try:
            repo = parse_repository(source.repository)
        except ResourceError as err:
            raise err.wrap(f"checking origin {source.repository} failed: resolve repository") from None
        return origin_attempt(source, repo)

    def fetch(attempt: Attempt) -> list[Version]:
        plan = _Plan(attempt.repository, attempt.options, *mode_parts)
        # Signatures name the origin's repository, also when a mirror serves them. It parses here:
        # origin() or mirror_attempt() already did, and failed with their own wording if it could not.
        signed_as = parse_repository(source.repository).name
        try:
            return _check(plan, source, request.version, environment, keys=keys, signed_as=signed_as)
        except ResourceError as err:
            # The mirror's errors are warnings (mirror_failed); the origin's end the check.
            raise (
                err if attempt.is_mirror else err.wrap(f"checking origin {source.repository} failed")
            ) from None

    def mirror_failed(attempt: Attempt, err: ResourceError | None) -> None:
        _log.warning("checking mirror %s failed: %s", attempt.repository.name, err or "tag not found")

    return mirror_then_origin(mirror_attempt(source), origin, fetch, mirror_failed, answered=bool)


def _mode_parts(source: Source) -> tuple[str, Any, Constraint | None]:
    """The mode and its compiled pattern or constraint; invalid ones fail before any request."""
    if source.tag:
        return "tag", None, None
    if source.tag_regex:
        from registry_image_resource.protocol.regex import PatternError, compile_re2

        try:
            return "regex", compile_re2(source.tag_regex), None
        except PatternError as err:
            raise RequestError(f"source.tag_regex: invalid regex pattern: {err}") from None
    constraint = None
    if source.semver_constraint:
        from registry_image_resource.versioning.constraints import ConstraintError, parse_constraint

        try:
            constraint = parse_constraint(source.semver_constraint)
        except ConstraintError as err:
            raise RequestError(f"source.semver_constraint: parse semver constraint: {err}") from None
    return "semver", None, constraint


def _public_keys(source: Source) -> tuple[PublicKey, ...]:
    """``source.cosign.public_keys`` parsed (importing the cosign code only when there are some)."""
    if source.cosign is None or not source.cosign.public_keys:
        return ()
    from registry_image_resource.trust.cosign import load_public_keys

    return load_public_keys(source.cosign.public_keys)


def _check(
    plan: _Plan,
    source: Source,
    cursor: Version | None,
    env: Mapping[str, str],
    *,
    keys: Sequence[PublicKey] = (),
    signed_as: str = "",
) -> list[Version]:
    from registry_image_resource.registry.client import RegistryClient

    client = RegistryClient.connect(plan.repo, plan.options, "pull", env=env)
    try:
        if plan.mode == "tag":
            versions = _check_tag(client, source.tag, cursor)
        elif plan.mode == "regex":
            versions = _check_regex(client, plan.regex, source)
        else:
            from registry_image_resource.commands.check.semver import check_semver

            versions = check_semver(client, source, plan.constraint, cursor, concurrency=LOOKUP_CONCURRENCY)
        return _signed_only(client, keys, versions, signed_as) if keys else versions
    finally:
        _log.debug("check of %s sent %d requests", plan.repo.name, client.requests_sent)
        client.close()


def _signed_only(
    client: RegistryClient, keys: Sequence[PublicKey], versions: list[Version], signed_as: str
) -> list[Version]:
    """The versions whose digest carries a signature by one of ``keys``; one INFO line per other.

    Signature look-ups run concurrently, like the digest look-ups; a skipped version shows up on
    a later check once it is signed.
    """
    from registry_image_resource.trust.cosign.remote import verify_digest
    from registry_image_resource.trust.cosign.verify import Unverified, Verified

    def verify(digest: str) -> Verified | Unverified:
        return verify_digest(client, keys, digest, signed_as)

    digests = list(dict.fromkeys(v.digest for v in versions))
    results = dict(zip(digests, _map_bounded(_prefixed("verify signature", verify), digests), strict=True))
    signed = []
    for version in versions:
        result = results[version.digest]
        if isinstance(result, Verified):
            signed.append(version)
        else:
            _log.info("skipping %s (%s): %s", version.tag, version.digest, result.reason)
    return signed


# --- helpers ----------------------------------------------------------------------------------------


def _map_bounded(function: Callable[[T], R], items: Sequence[T], limit: int | None = None) -> list[R]:
    """``[function(x) for x in items]`` with up to ``limit`` (``LOOKUP_CONCURRENCY``) running at
    once; the first error wins."""
    limit = LOOKUP_CONCURRENCY if limit is None else limit
    if len(items) <= 1 or limit <= 1:
        return [function(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        futures = [pool.submit(function, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _prefixed(prefix: str, function: Callable[[T], R]) -> Callable[[T], R]:
    def call(item: T) -> R:
        try:
            return function(item)
        except ResourceError as err:
            raise err.wrap(prefix) from None

    return call


def _list_tags(client: RegistryClient) -> list[str]:
    try:
        return client.list_tags()
    except ResourceError as err:
        raise err.wrap("list repository tags") from None


# --- tag mode (B.3.4) -------------------------------------------------------------------------------


def _check_tag(client: RegistryClient, tag: str, cursor: Version | None) -> list[Version]:
    lookup = _prefixed("get remote image", client.head_or_get_digest)
    digest = lookup(tag)
    response: list[Version] = []
    if digest is None:
        return response
    if cursor is not None and cursor.digest and cursor.digest != digest and lookup(cursor.digest):
        response.append(Version(tag=tag, digest=cursor.digest))
    response.append(Version(tag=tag, digest=digest))
    return response


# --- regex mode (B.3.3) -----------------------------------------------------------------------------


def _check_regex(client: RegistryClient, regex: Any, source: Source) -> list[Version]:
    tags = _list_tags(client)
    matching = [tag for tag in tags if regex.search(tag) is not None]
    if not source.created_at_sort:
        digests = _map_bounded(_prefixed("get tag digest", client.head_or_get_digest), matching)
        return [Version(tag=t, digest=d) for t, d in zip(matching, digests, strict=True) if d is not None]

    from registry_image_resource.protocol.platform import resolved

    wanted = resolved(source.platform)
    found = _map_bounded(lambda tag: _created(client, tag, wanted), matching)
    dated = [
        (created, Version(tag=tag, digest=digest))
        for tag, (digest, created) in zip(matching, found, strict=True)
        if digest
    ]
    dated.sort(key=lambda pair: pair[0])  # stable: registry order among equal times
    return [version for _, version in dated]


def _created(client: RegistryClient, tag: str, wanted: Platform) -> tuple[str | None, datetime]:
    """The tag's digest (None if missing) and its image's creation time (for an index: the platform's)."""
    from registry_image_resource.errors import NotFoundError
    from registry_image_resource.registry import manifests

    try:
        manifest = client.get_manifest(tag)
    except NotFoundError:
        return None, _parse_time(None)
    except ResourceError as err:
        raise err.wrap("get remote image") from None
    try:
        image = manifest
        if manifests.is_index(manifest.media_type):
            index = manifests.parse_index(manifest.body, manifest.media_type)
            child = manifests.select_platform(index, wanted, f"{client.repo.name}:{tag}")
            image = client.get_manifest(child.digest)
        parsed = manifests.parse_manifest(image.body, image.media_type)
    except ResourceError as err:
        raise err.wrap("get remote image") from None
    try:
        config = manifests.parse_config(client.fetch_blob(parsed.config.digest, parsed.config.size))
    except ResourceError as err:
        raise err.wrap("get remote image config file") from None
    return manifest.digest, _parse_time(config.created)


def _parse_time(text: str | None) -> datetime:
    """RFC 3339 with any fraction; a missing or unreadable time sorts first (Go's zero time)."""
    from datetime import UTC, datetime

    epoch = datetime.min.replace(tzinfo=UTC)
    if not text:
        return epoch
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return epoch
    return value if value.tzinfo else value.replace(tzinfo=UTC)
