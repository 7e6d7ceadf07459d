"""The tags an ``out`` pushes, in order (SPEC B.5.2, B.5.2.1, B.5.3).

Order: the source tag, the normalised version (plus ``-<variant>``), its ``bump_aliases``, then
the ``additional_tags`` file's tokens with ``tag_prefix``. Everything local is checked by
``local_tags`` before any request; the aliases need the repository's tag list, which the caller
fetches and hands to ``bump_aliases``. This module must never talk to a registry itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from registry_image_resource.commands.put.globbing import go_join
from registry_image_resource.commands.put.request import PutParams
from registry_image_resource.errors import InputError, RequestError
from registry_image_resource.protocol.models import Source
from registry_image_resource.versioning.versions import TagVersion, parse_version, version_error

# Go's unicode.IsSpace, which ``strings.Fields`` splits on: Python's whitespace minus \x1c-\x1f.
_FIELD_SEPARATORS = re.compile(r"[^\S\x1c-\x1f]+")


@dataclass(frozen=True, slots=True)
class LocalTags:
    """What ``out`` knows about its tags before asking the registry anything."""

    source_tag: str
    version_tag: str
    version: TagVersion | None
    variant: str
    bump: bool
    additional: tuple[str, ...]

    def with_aliases(self, aliases: Iterable[str]) -> tuple[str, ...]:
        """The push list in order, duplicates kept (they are listed, and pushed once)."""
        tags = [t for t in (self.source_tag, self.version_tag) if t]
        return (*tags, *aliases, *self.additional)


def local_tags(source: Source, params: PutParams, src: Path) -> LocalTags:
    """The tag list's local part, with the Go resource's errors in its order (SPEC B.5.1 4-7)."""
    version: TagVersion | None = None
    version_tag = ""
    if params.version:
        version = parse_put_version(params.version)
        version_tag = str(version) + (f"-{source.variant}" if source.variant else "")
    additional = tuple(f"{params.tag_prefix}{t}" for t in read_additional_tags(src, params.additional_tags))
    if params.tag_prefix and not additional:
        raise RequestError("tag_prefix can only be used when additional_tags are specified")
    if not source.tag and not version_tag and not additional:
        raise RequestError("no tag specified - need either 'version:' in params or 'tag:' in source")
    bump = params.bump_aliases and version is not None and version.prerelease == ""
    return LocalTags(source.tag, version_tag, version, source.variant, bump, additional)


def parse_put_version(text: str) -> TagVersion:
    """``params.version`` parsed like Masterminds ``NewVersion``, with the Go resource's errors."""
    version = parse_version(text)
    if version is not None:
        return version
    reason = version_error(text)
    if reason == "Invalid Semantic Version":
        raise RequestError(f"invalid semantic version: {json.dumps(text, ensure_ascii=False)}")
    raise RequestError(f"failed to parse version: {reason}")


def read_additional_tags(src: Path, additional_tags: str) -> list[str]:
    """The whitespace-separated tokens of the ``additional_tags`` file (joined under ``src`` as Go does)."""
    if not additional_tags:
        return []
    path = go_join(str(src), additional_tags)
    try:
        content = Path(path).read_bytes()
    except OSError as err:
        operation = "read" if isinstance(err, IsADirectoryError) else "open"
        reason = (err.strerror or str(err)).lower()
        raise InputError(
            "could not parse additional tags: failed to read file at "
            f"{json.dumps(path, ensure_ascii=False)}: {operation} {path}: {reason}"
        ) from None
    text = content.decode("utf-8", errors="replace")
    return [token for token in _FIELD_SEPARATORS.split(text) if token]


def bump_aliases(version: TagVersion, variant: str, existing: Iterable[str]) -> list[str]:
    """The alias tags ``version`` should also get, given the repository's tags (SPEC B.5.2.1).

    ``latest`` (or the bare variant) unless a newer final release exists; ``MAJOR`` unless a
    newer minor of that major exists; ``MAJOR.MINOR`` unless a newer patch of it exists.
    Prereleases and other variants' tags never block; an equal version does not block.
    """
    suffix = f"-{variant}" if variant else ""
    bump_latest = bump_major = bump_minor = True
    for tag in existing:
        text = tag
        if variant:
            if not tag.endswith(suffix):
                continue
            text = tag[: -len(suffix)]
        other = parse_version(text)
        if other is None or other.prerelease:
            continue
        if (other.major, other.minor, other.patch) > (version.major, version.minor, version.patch):
            bump_latest = False
        if other.major == version.major and other.minor > version.minor:
            bump_major = False
        if other.major == version.major and other.minor == version.minor and other.patch > version.patch:
            bump_minor = False
            bump_major = False
    aliases = []
    if bump_latest:
        aliases.append(variant or "latest")
    if bump_major:
        aliases.append(f"{version.major}{suffix}")
    if bump_minor:
        aliases.append(f"{version.major}.{version.minor}{suffix}")
    return aliases


def unique(tags: Iterable[str]) -> list[str]:
    """Tags in first-seen order, each once (the Go resource pushes a map keyed by reference)."""
    return list(dict.fromkeys(tags))
