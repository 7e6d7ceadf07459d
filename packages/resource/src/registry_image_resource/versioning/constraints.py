"""``semver_constraint``: the Masterminds/semver v3 constraint language (SPEC B.3.2.4).

This module owns parsing a constraint string (``||`` groups of comma- or space-separated
comparisons; ``=``, ``!=``, ``>``, ``<``, ``>=``/``=>``, ``<=``/``=<``, ``~``/``~>``, ``^``;
wildcards ``x``/``X``/``*``; hyphen ranges ``1.2 - 1.4.5``) and checking a ``TagVersion``
against it, including the prerelease rule: a prerelease satisfies a group only if a comparison
in that group has a prerelease part. It must never do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from registry_image_resource.versioning.versions import TagVersion, compare, compare_prerelease, parse_version

_CV = (
    r"v?([0-9xX*]+)(\.[0-9xX*]+)?(\.[0-9xX*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_CV_NOGROUPS = re.sub(r"\((?!\?)", "(?:", _CV)
# Go's \s is ASCII whitespace only.
_S = r"[\t\n\f\r ]"
_OPS = r"=|!=|>|<|>=|=>|<=|=<|~|~>|\^|"
_CONSTRAINT = re.compile(rf"{_S}*({_OPS}){_S}*({_CV}){_S}*")
_FIND = re.compile(rf"(?:{_OPS}){_S}*{_CV_NOGROUPS}")
_VALID = re.compile(
    rf"{_S}*(?:{_OPS}){_S}*{_CV_NOGROUPS}{_S}*(?:(?:{_S}+|,{_S}*)(?:{_OPS}){_S}*{_CV_NOGROUPS}{_S}*)*"
)
_RANGE = re.compile(rf"{_S}*({_CV_NOGROUPS}){_S}+-{_S}+({_CV_NOGROUPS}){_S}*")


class ConstraintError(ValueError):
    """An improper constraint; ``str()`` is Masterminds' text (``improper constraint: "..."``)."""


def _is_wildcard(text: str) -> bool:
    return text in ("x", "X", "*")


@dataclass(frozen=True, slots=True)
class Comparison:
    operator: str
    version: TagVersion
    dirty: bool = False
    minor_dirty: bool = False
    patch_dirty: bool = False

    def check(self, v: TagVersion) -> bool:
        return _OPERATORS[self.operator](v, self)


@dataclass(frozen=True, slots=True)
class Constraint:
    """OR of AND-groups of comparisons."""

    text: str
    groups: tuple[tuple[Comparison, ...], ...]

    def check(self, v: TagVersion) -> bool:
        for group in self.groups:
            if v.prerelease and not any(c.version.prerelease for c in group):
                continue
            if all(c.check(v) for c in group):
                return True
        return False


def _rewrite_ranges(text: str) -> str:
    return _RANGE.sub(lambda m: f">= {m.group(1)}, <= {m.group(2)}", text)


def parse_constraint(text: str) -> Constraint:
    """Parse a whole ``semver_constraint``; raises ``ConstraintError`` naming the bad segment."""
    groups: list[tuple[Comparison, ...]] = []
    for segment in _rewrite_ranges(text).split("||"):
        if not segment.strip(" \t\n\f\r"):
            # An empty group means any version (Masterminds treats "" as "*").
            groups.append((_comparison("*"),))
            continue
        if not _VALID.fullmatch(segment):
            raise ConstraintError(f'improper constraint: "{segment.strip()}"')
        groups.append(tuple(_comparison(part) for part in _FIND.findall(segment)))
    return Constraint(text=text, groups=tuple(groups))


def _comparison(text: str) -> Comparison:
    match = _CONSTRAINT.fullmatch(text)
    if match is None:
        raise ConstraintError(f'improper constraint: "{text.strip()}"')
    operator, whole = match.group(1), match.group(2)
    major, minor, patch = match.group(3), match.group(4) or "", match.group(5) or ""
    pre = match.group(6) or ""
    dirty = minor_dirty = patch_dirty = False
    version_text = whole
    if _is_wildcard(major):
        version_text, dirty = f"0.0.0{pre}", True
    elif not minor or _is_wildcard(minor[1:]):
        version_text, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif not patch or _is_wildcard(patch[1:]):
        version_text, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
    version = parse_version(version_text)
    if version is None:  # a wildcard in a later position, e.g. "1.x.3" parses; "1.2.x3" does not
        raise ConstraintError(f'improper constraint: "{text.strip()}"')
    return Comparison(operator or "=", version, dirty, minor_dirty, patch_dirty)


# --- the operators, as Masterminds v3 defines them -------------------------------------------------


def _not_equal(v: TagVersion, c: Comparison) -> bool:
    con = c.version
    if c.dirty:
        if con.major != v.major:
            return True
        if con.minor != v.minor and not c.minor_dirty:
            return True
        if c.minor_dirty:
            return False
        if con.patch != v.patch and not c.patch_dirty:
            return True
        if c.patch_dirty:
            if v.prerelease or con.prerelease:
                return compare_prerelease(v.prerelease, con.prerelease) != 0
            return False
    return compare(v, con) != 0


def _greater(v: TagVersion, c: Comparison) -> bool:
    con = c.version
    if not c.dirty:
        return compare(v, con) > 0
    if v.major != con.major:
        return v.major > con.major
    if c.minor_dirty:
        return False  # >11 needs 12 or later
    if c.patch_dirty:
        return v.minor > con.minor  # >11.1 needs 11.2 or later
    return compare(v, con) > 0


def _less(v: TagVersion, c: Comparison) -> bool:
    return compare(v, c.version) < 0


def _greater_equal(v: TagVersion, c: Comparison) -> bool:
    return compare(v, c.version) >= 0


def _less_equal(v: TagVersion, c: Comparison) -> bool:
    con = c.version
    if not c.dirty:
        return compare(v, con) <= 0
    if v.major > con.major:
        return False
    return not (v.major == con.major and v.minor > con.minor and not c.minor_dirty)


def _tilde(v: TagVersion, c: Comparison) -> bool:
    con = c.version
    if compare(v, con) < 0:
        return False
    if (con.major, con.minor, con.patch) == (0, 0, 0) and not c.minor_dirty and not c.patch_dirty:
        return True  # ~0.0.0 and ~* accept everything
    if v.major != con.major:
        return False
    return not (v.minor != con.minor and not c.minor_dirty)


def _tilde_or_equal(v: TagVersion, c: Comparison) -> bool:
    if c.dirty:
        return _tilde(v, c)
    return compare(v, c.version) == 0


def _caret(v: TagVersion, c: Comparison) -> bool:
    con = c.version
    if compare(v, con) < 0:
        return False
    if c.dirty and not c.minor_dirty and not c.patch_dirty:
        return True  # ^* and ^x accept everything
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return v.patch == con.patch


_OPERATORS: dict[str, Callable[[TagVersion, Comparison], bool]] = {
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater,
    "<": _less,
    ">=": _greater_equal,
    "=>": _greater_equal,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}
