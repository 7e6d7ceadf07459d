"""``check`` in semver mode (SPEC B.3.2, A.2.4): tags that parse as versions, newest last.

This module owns the candidates' filtering (variant, constraint, prereleases), the cursor rule
(tags that cannot be newer than a cursor still naming its digest are never looked up), the
digest look-ups, which start while later pages of the tag listing are still on their way, and
the choice of one tag per digest. It must never look up a tag the Go resource would not report,
nor report one it would not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from registry_image_resource.commands.check import _prefixed
from registry_image_resource.errors import ResourceError
from registry_image_resource.protocol.models import Source, Version

if TYPE_CHECKING:
    from registry_image_resource.registry.client import RegistryClient
    from registry_image_resource.versioning.constraints import Constraint


class _Candidate(NamedTuple):
    tag: str
    version: Any  # TagVersion, or None for the bare tag


def _candidate(tag: str, source: Source, constraint: Constraint | None, bare: str) -> _Candidate | None:
    """The tag as a semver-mode candidate, or None if the filters drop it (B.3.2.2)."""
    from registry_image_resource.versioning.versions import parse_version, prerelease_allowed

    if tag == bare:
        return _Candidate(tag, None)
    text = tag
    if source.variant:
        suffix = "-" + source.variant
        if not tag.endswith(suffix):
            return None
        text = tag[: -len(suffix)]
    version = parse_version(text)
    if version is None:
        return None
    if constraint is not None and not constraint.check(version):
        return None
    if not prerelease_allowed(
        version.prerelease, enabled=source.pre_releases, extra_prefixes=tuple(source.pre_release_prefixes)
    ):
        return None
    return _Candidate(tag, version)


def check_semver(
    client: RegistryClient,
    source: Source,
    constraint: Constraint | None,
    cursor: Version | None,
    *,
    concurrency: int,
) -> list[Version]:
    """The versions of a semver-mode check, oldest first (the last one may be ``latest``)."""
    looked_up = _semver_lookups(client, source, constraint, cursor, concurrency)
    return _semver_versions(looked_up, constraint)


def _semver_lookups(
    client: RegistryClient,
    source: Source,
    constraint: Constraint | None,
    cursor: Version | None,
    concurrency: int,
) -> list[tuple[_Candidate, str | None]]:
    """Each candidate tag with its digest, the cursor's first, the others in listing order.

    HEADs start while later pages of the listing arrive (up to ``concurrency`` at once).
    The cursor tag is looked up first, before it shows up in the listing: if it still has the
    cursor's digest, tags that cannot be newer than it are never looked up (its own version is
    still reported). Should the listing not have the cursor tag after all, those tags are looked
    up at the end, so the answer is the same as with the listing first.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    from registry_image_resource.versioning.versions import compare

    bare = source.variant or "latest"
    lookup = _prefixed("get tag digest", client.head_or_get_digest)
    wanted = _candidate(cursor.tag, source, constraint, bare) if cursor is not None else None
    first: _Candidate | None = None
    entries: list[tuple[_Candidate, Future[str | None] | None]] = []  # None: skipped for the cursor
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        try:
            cursor_lookup = pool.submit(lookup, wanted.tag) if wanted is not None else None
            floor = None  # the cursor's version once it is known to still name the cursor's digest
            decided = cursor_lookup is None
            for page in _tag_pages(client):
                for tag in page:
                    candidate = _candidate(tag, source, constraint, bare)
                    if candidate is None:
                        continue
                    if wanted is not None and first is None and tag == wanted.tag:
                        first = candidate
                        continue
                    if not decided and cursor_lookup is not None and cursor is not None:
                        decided = True
                        try:
                            if cursor_lookup.result() == cursor.digest:
                                floor = wanted.version if wanted is not None else None
                        except ResourceError:
                            pass  # raised again below if the listing has the cursor tag
                    version = candidate.version
                    if floor is not None and version is not None and compare(version, floor) <= 0:
                        entries.append((candidate, None))
                    else:
                        entries.append((candidate, pool.submit(lookup, tag)))
            looked_up: list[tuple[_Candidate, str | None]] = []
            if first is not None and cursor_lookup is not None:
                looked_up.append((first, cursor_lookup.result()))
            if first is None:  # the listing has no cursor tag: nothing could be skipped after all
                entries = [(c, f if f is not None else pool.submit(lookup, c.tag)) for c, f in entries]
            for candidate, future in entries:
                if future is not None:
                    looked_up.append((candidate, future.result()))
            return looked_up
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _tag_pages(client: RegistryClient) -> Iterator[list[str]]:
    try:
        yield from client.tag_pages()
    except ResourceError as err:
        raise err.wrap("list repository tags") from None


def _semver_versions(
    looked_up: list[tuple[_Candidate, str | None]], constraint: Constraint | None
) -> list[Version]:
    """The versions to report from the looked-up candidates (B.3.2.2): one tag per digest, sorted."""
    from registry_image_resource.versioning.versions import sort_key

    tag_digests: dict[str, str] = {}
    chosen: dict[str, _Candidate] = {}  # digest -> the candidate naming it
    latest = None
    for candidate, digest in looked_up:
        if digest is None:
            continue
        tag_digests[candidate.tag] = digest
        version = candidate.version
        if version is None:
            latest = candidate.tag
            continue
        existing = chosen.get(digest)
        replace_it = existing is None
        if existing is not None:
            old = existing.version
            if not old.prerelease and version.prerelease:
                replace_it = False
            elif old.prerelease and not version.prerelease:
                replace_it = True  # a final release beats prereleases
            elif version.original.count(".") > old.original.count("."):
                replace_it = True  # the most specific alias names the digest
        if replace_it:
            chosen[digest] = candidate

    ordered = sorted(chosen.items(), key=lambda item: sort_key(item[1].version))
    response = [Version(tag=candidate.tag, digest=digest) for digest, candidate in ordered]
    if latest is not None and constraint is None and tag_digests[latest] not in chosen:
        response.append(Version(tag=latest, digest=tag_digests[latest]))
    return response
