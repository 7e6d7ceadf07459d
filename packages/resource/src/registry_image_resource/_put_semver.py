"""Masterminds ``NewVersion`` (coercing mode) as far as ``out`` needs it (SPEC B.3.2.3).

Stop-gap until ``versions.py`` (the check command's full semver and constraint layer) lands on
main; ``tags.py`` then imports from there and this module goes away. It must stay a parser only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(
    r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_UINT64_MAX = 2**64 - 1


class VersionSyntaxError(ValueError):
    """Not a version; ``no_match`` when the text does not fit the grammar at all."""

    def __init__(self, message: str, *, no_match: bool = False) -> None:
        super().__init__(message)
        self.no_match = no_match


@dataclass(frozen=True, slots=True)
class SemVer:
    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = ""
    original: str = ""

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += f"-{self.prerelease}"
        if self.metadata:
            text += f"+{self.metadata}"
        return text


def _segment(text: str | None, original: str) -> int:
    if text is None:
        return 0
    digits = text.lstrip(".")
    value = int(digits)
    if value > _UINT64_MAX:
        raise VersionSyntaxError(
            f'Error parsing version segment: strconv.ParseUint: parsing "{digits}": value out of range'
        )
    return value


def parse_version(text: str) -> SemVer:
    match = _VERSION.fullmatch(text)
    if match is None:
        raise VersionSyntaxError("Invalid Semantic Version", no_match=True)
    major = _segment(match.group(1), text)
    minor = _segment(match.group(2), text)
    patch = _segment(match.group(3), text)
    prerelease = match.group(5) or ""
    for part in prerelease.split(".") if prerelease else []:
        if part.isdigit() and len(part) > 1 and part.startswith("0"):
            raise VersionSyntaxError("version segment starts with 0")
    return SemVer(major, minor, patch, prerelease, match.group(8) or "", text)
