"""Version tags as Masterminds/semver v3 reads them: the coercing grammar and the ordering.

This module owns SPEC B.3.2.3: which tag strings are versions (``v1``, ``2.1``, ``01.2.3`` and
``20240101`` are; ``1.2.3.4``, ``V1.0`` and ``1.0.0-rc.01`` are not), how they compare
(prereleases identifier by identifier, build metadata ignored), and the prerelease filter of
semver-mode check (B.3.2.2). It must never do I/O.

Written here rather than on the ``semver`` package, which this project used to hold the three
numbers in: parsing follows Masterminds, which is more lenient than ``semver`` (``v1``, ``2.1``,
``01.2.3``), and so does ordering, which differs from ``semver``'s on prerelease identifiers past
uint64 (Masterminds compares ``99999999999999999999`` and ``100000000000000000000`` as text, 1;
``semver.Version.compare`` as numbers, -1). The package also cost 125 ms of imports
(``python -X importtime -c "import semver"``, cumulative, on the 2-core development machine, loaded).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_VERSION = re.compile(
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_UINT64_MAX = 2**64 - 1
DEFAULT_PRERELEASE_PREFIXES = ("alpha", "beta", "rc")


@dataclass(frozen=True, slots=True)
class TagVersion:
    """A parsed version; ``original`` is the string it was parsed from (for the alias tie-break)."""

    major: int
    minor: int
    patch: int
    prerelease: str
    build: str
    original: str

    def __str__(self) -> str:
        """The canonical form, as Masterminds' ``String()``: ``1.2.3``, ``-pre`` and ``+build`` if any."""
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += f"-{self.prerelease}"
        if self.build:
            text += f"+{self.build}"
        return text


def parse_version(text: str) -> TagVersion | None:
    """Masterminds ``NewVersion``: the version ``text`` denotes, or None if it is not one."""
    match = _VERSION.fullmatch(text)
    if match is None:
        return None
    numbers = [int(match.group(1)), int((match.group(2) or ".0")[1:]), int((match.group(3) or ".0")[1:])]
    if any(n > _UINT64_MAX for n in numbers):
        return None
    prerelease = match.group(5) or ""
    # Numeric prerelease identifiers must not have leading zeros (``rc.01``).
    if any(part.isdigit() and len(part) > 1 and part[0] == "0" for part in prerelease.split(".") if part):
        return None
    major, minor, patch = numbers
    return TagVersion(major, minor, patch, prerelease, match.group(8) or "", original=text)


def _compare_prerelease_part(mine: str, theirs: str) -> int:
    if mine == theirs:
        return 0
    if not mine:
        return -1
    if not theirs:
        return 1
    mine_number = mine.isdigit() and int(mine) <= _UINT64_MAX
    theirs_number = theirs.isdigit() and int(theirs) <= _UINT64_MAX
    if mine_number and theirs_number:
        return 1 if int(mine) > int(theirs) else -1
    if mine_number:
        return -1
    if theirs_number:
        return 1
    return 1 if mine.encode() > theirs.encode() else -1


def compare_prerelease(mine: str, theirs: str) -> int:
    """Identifier by identifier; numeric < alphanumeric; a missing identifier is smaller."""
    mine_parts, theirs_parts = mine.split("."), theirs.split(".")
    for index in range(max(len(mine_parts), len(theirs_parts))):
        a = mine_parts[index] if index < len(mine_parts) else ""
        b = theirs_parts[index] if index < len(theirs_parts) else ""
        result = _compare_prerelease_part(a, b)
        if result:
            return result
    return 0


def compare(a: TagVersion, b: TagVersion) -> int:
    """-1, 0 or 1; build metadata is ignored, a release beats its prereleases."""
    for x, y in ((a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)):
        if x != y:
            return 1 if x > y else -1
    pa, pb = a.prerelease, b.prerelease
    if not pa and not pb:
        return 0
    if not pa:
        return 1
    if not pb:
        return -1
    return compare_prerelease(pa, pb)


sort_key = functools.cmp_to_key(compare)


def prerelease_allowed(prerelease: str, *, enabled: bool, extra_prefixes: tuple[str, ...]) -> bool:
    """The prerelease rule of semver-mode check (SPEC B.3.2.2).

    Without ``pre_releases`` no prerelease passes. With it, the prerelease must start with
    ``alpha``, ``beta``, ``rc`` or one of ``pre_release_prefixes``; when no extra prefixes are
    configured a prerelease containing ``-`` (an additional variant) is refused.
    """
    if not prerelease:
        return True
    if not enabled:
        return False
    prefixes = DEFAULT_PRERELEASE_PREFIXES + extra_prefixes
    if not extra_prefixes and "-" in prerelease:
        return False
    return any(prerelease.startswith(prefix) for prefix in prefixes)


def version_error(text: str) -> str:
    """Masterminds' error for a ``text`` that ``parse_version`` refuses (put reports it, B.5.2).

    ``Invalid Semantic Version`` when the grammar does not match at all; otherwise the reason
    of the later check that failed.
    """
    match = _VERSION.fullmatch(text)
    if match is None:
        return "Invalid Semantic Version"
    for group in (1, 2, 3):
        digits = (match.group(group) or ".0").lstrip(".")
        if int(digits) > _UINT64_MAX:
            return f'Error parsing version segment: strconv.ParseUint: parsing "{digits}": value out of range'
    return "version segment starts with 0"
