"""Masterminds/semver v3 as check uses it: the version grammar, the ordering, the constraint language."""

from __future__ import annotations

import pytest

from registry_image_resource.versioning.constraints import ConstraintError, parse_constraint
from registry_image_resource.versioning.versions import (
    compare,
    compare_prerelease,
    parse_version,
    prerelease_allowed,
    sort_key,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", "1.2.3"),
        ("v1.2.3", "1.2.3"),
        ("1", "1.0.0"),
        ("v2", "2.0.0"),
        ("2.1", "2.1.0"),
        ("01.2.3", "1.2.3"),
        ("20240101", "20240101.0.0"),
        ("1.0.0-foo1", "1.0.0-foo1"),
        ("1.0.0-rc.1+build.5", "1.0.0-rc.1+build.5"),
        ("1.0.0-alpha.1-bar", "1.0.0-alpha.1-bar"),
        ("1.0.0-0", "1.0.0-0"),
        ("1.2.3-alpine", "1.2.3-alpine"),
    ],
)
def test_versions(text, expected):
    version = parse_version(text)
    assert version is not None
    assert (str(version), version.original) == (expected, text)


@pytest.mark.parametrize(
    "text",
    [
        "1.2.3.4",
        "latest",
        "3bd8a5e-dev",
        "V1.0",
        "1.0.0-rc.01",
        "",
        "v",
        "1.",
        "1.2.3-",
        "1.2.3+",
        "1.2.3-a..b",
        "1.2.3\n",
        " 1.2.3",
        "18446744073709551616.0.0",
        "1.2.3-é",
    ],
)
def test_not_versions(text):
    assert parse_version(text) is None


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [
        ("1.0.0", "2.0.0"),
        ("1.9.0", "1.10.0"),
        ("1.0.9", "1.0.10"),
        ("1.0.0-alpha", "1.0.0"),
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-alpha.1", "1.0.0-alpha.1-bar"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-beta.1", "1.0.0-build"),
        ("1.0.0-build", "1.0.0-rc.1"),
        ("1.0.0-RC", "1.0.0-beta"),
        ("1.0.0-rc.1", "1.0.0"),
    ],
)
def test_ordering(smaller, larger):
    a, b = parse_version(smaller), parse_version(larger)
    assert a is not None
    assert b is not None
    assert (compare(a, b), compare(b, a)) == (-1, 1)


@pytest.mark.parametrize(
    ("a", "b"), [("6.3", "6.3.0"), ("1.0.0+a", "1.0.0+b"), ("v1", "1.0.0"), ("01.2", "1.2.0")]
)
def test_equal_versions(a, b):
    assert compare(parse_version(a), parse_version(b)) == 0


def test_sorting():
    texts = ["1.10.0", "1.2.0", "1.2.0-rc.1", "0.9", "2", "1.2.0-beta.10", "1.2.0-beta.9"]
    ordered = sorted((parse_version(t) for t in texts), key=sort_key)
    assert [v.original for v in ordered] == [
        "0.9",
        "1.2.0-beta.9",
        "1.2.0-beta.10",
        "1.2.0-rc.1",
        "1.2.0",
        "1.10.0",
        "2",
    ]


@pytest.mark.parametrize(
    ("prerelease", "enabled", "extra", "allowed"),
    [
        ("", False, (), True),
        ("rc1", False, (), False),
        ("rc1", True, (), True),
        ("rcfoo", True, (), True),
        ("alphabet", True, (), True),
        ("beta.2", True, (), True),
        ("beta-x", True, (), False),
        ("beta-x", True, ("dev",), True),
        ("alpine", True, (), False),
        ("dev.1", True, (), False),
        ("dev.1", True, ("dev",), True),
        ("dev.1", False, ("dev",), False),
        ("alpha.1-bar", True, ("x",), True),
    ],
)
def test_prerelease_rule(prerelease, enabled, extra, allowed):
    assert prerelease_allowed(prerelease, enabled=enabled, extra_prefixes=extra) is allowed


CONSTRAINT_TABLE = [
    # exact and =
    ("1.2.3", {"1.2.3": True, "1.2.4": False, "v1.2.3": True, "1.2.3+meta": True}),
    ("=1.2.3", {"1.2.3": True, "1.2.2": False}),
    ("= 1.2.3", {"1.2.3": True}),
    ("v1.2.3", {"1.2.3": True}),
    # !=
    ("!=1.2.3", {"1.2.3": False, "1.2.4": True}),
    ("!=1.2.x", {"1.2.0": False, "1.2.9": False, "1.3.0": True, "2.2.0": True}),
    ("!=1.x", {"1.9.0": False, "2.0.0": True}),
    # > >= < <=
    (">1.2.3", {"1.2.3": False, "1.2.4": True, "2.0.0": True}),
    (">1.2", {"1.2.9": False, "1.3.0": True}),
    (">1", {"1.9.9": False, "2.0.0": True}),
    (">=1.2.3", {"1.2.2": False, "1.2.3": True}),
    ("=>1.2.3", {"1.2.2": False, "1.2.3": True}),
    ("<1.2.3", {"1.2.2": True, "1.2.3": False}),
    ("<1.2", {"1.1.9": True, "1.2.0": False}),
    ("<=1.2.3", {"1.2.3": True, "1.2.4": False}),
    ("=<1.2.3", {"1.2.3": True, "1.2.4": False}),
    ("<=1.2", {"1.2.9": True, "1.3.0": False}),
    ("<=1.x", {"1.9.0": True, "2.0.0": False}),
    # tilde
    ("~1.2.3", {"1.2.2": False, "1.2.3": True, "1.2.9": True, "1.3.0": False}),
    ("~>1.2.3", {"1.2.9": True, "1.3.0": False}),
    ("~1.2", {"1.2.0": True, "1.2.9": True, "1.3.0": False}),
    ("~1", {"1.0.0": True, "1.9.0": True, "2.0.0": False}),
    ("~0.0.0", {"0.0.1": True, "9.0.0": True}),
    ("~*", {"3.0.0": True}),
    # caret
    ("^1.2.3", {"1.2.2": False, "1.2.3": True, "1.9.0": True, "2.0.0": False}),
    ("^1.2", {"1.2.0": True, "1.9.0": True, "2.0.0": False}),
    ("^0.2.3", {"0.2.3": True, "0.2.9": True, "0.3.0": False}),
    ("^0.2", {"0.2.0": True, "0.3.0": False}),
    ("^0.0.3", {"0.0.3": True, "0.0.4": False}),
    ("^0.0", {"0.0.9": True, "0.1.0": False}),
    ("^0", {"0.9.0": True, "1.0.0": False}),
    ("^*", {"0.0.1": True, "7.0.0": True}),
    # wildcards
    ("1.2.x", {"1.2.0": True, "1.2.9": True, "1.3.0": False}),
    ("1.2.X", {"1.2.7": True, "1.3.0": False}),
    ("1.2.*", {"1.2.7": True}),
    ("1.x", {"1.0.0": True, "1.9.9": True, "2.0.0": False}),
    ("*", {"0.0.1": True, "99.0.0": True}),
    ("x", {"5.0.0": True}),
    ("1", {"1.0.0": True, "1.5.0": True, "2.0.0": False}),
    # hyphen range
    ("1.2 - 1.4.5", {"1.1.9": False, "1.2.0": True, "1.4.5": True, "1.4.6": False}),
    ("1.2.3 - 2", {"1.2.3": True, "2.0.0": True, "2.0.1": True, "3.0.0": False}),
    # AND with comma and space, OR
    (">=1.2, <2", {"1.1.0": False, "1.2.0": True, "2.0.0": False}),
    (">=1.2 <2", {"1.5.0": True, "2.0.0": False}),
    (">= 1.2 , < 2", {"1.5.0": True}),
    ("<1.0 || >=2.0", {"0.9.0": True, "1.5.0": False, "2.0.0": True}),
    ("1.2.3 || 1.2.5", {"1.2.3": True, "1.2.4": False, "1.2.5": True}),
    ("  >1.0  ", {"1.1.0": True}),
    # the prerelease rule: a prerelease satisfies a group only if the group has a prerelease
    (">=1.0.0", {"1.5.0-rc.1": False, "1.5.0": True}),
    (">=1.0.0-0", {"1.5.0-rc.1": True, "0.9.0-rc.1": False}),
    (">=1.0.0-0 <2.0.0", {"1.5.0-rc.1": True, "2.0.0-rc.1": True, "2.0.0": False}),
    (">=1.0.0-0 || >=3.0.0", {"1.5.0-rc.1": True}),
    (">=3.0.0 || <1.0", {"3.1.0-rc.1": False, "0.5.0-rc.1": False}),
    ("~1.2.3-beta.2", {"1.2.3-beta.4": True, "1.2.3-beta.1": False, "1.2.4": True}),
    ("^1.2.3-beta.2", {"1.2.3-beta.4": True, "1.9.0-beta.1": True, "2.0.0-beta.1": False}),
    ("1.2.x-0", {"1.2.5-rc.1": True}),
    ("!=1.2.x-beta.1", {"1.2.3-beta.1": False, "1.2.3-beta.2": True}),
]


@pytest.mark.parametrize(("constraint", "cases"), CONSTRAINT_TABLE, ids=[c for c, _ in CONSTRAINT_TABLE])
def test_constraints(constraint, cases):
    parsed = parse_constraint(constraint)
    assert {text: parsed.check(parse_version(text)) for text in cases} == cases


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ("foo", 'improper constraint: "foo"'),
        (">= 1.0 || bar", 'improper constraint: "bar"'),
        ("1.2.3.4", 'improper constraint: "1.2.3.4"'),
        (">>1", 'improper constraint: ">>1"'),
        ("1.0; 2.0", 'improper constraint: "1.0; 2.0"'),
        ("~=1.0", 'improper constraint: "~=1.0"'),
        ("1.2.3-", 'improper constraint: "1.2.3-"'),
    ],
)
def test_improper_constraints(constraint, message):
    with pytest.raises(ConstraintError) as caught:
        parse_constraint(constraint)
    assert str(caught.value) == message


def test_empty_or_group_is_any():
    parsed = parse_constraint("<1.0 || ")
    assert parsed.check(parse_version("5.0.0")) is True


def test_prerelease_identifiers_past_uint64_compare_as_text_as_masterminds_does() -> None:
    # Go's strconv.ParseUint fails on both, so Masterminds compares them byte by byte.
    assert compare_prerelease("99999999999999999999", "100000000000000000000") == 1


def test_a_version_prints_in_canonical_form_with_prerelease_and_build() -> None:
    version = parse_version("v1.2-rc.1+build.5")
    assert version is not None
    assert (str(version), version.original) == ("1.2.0-rc.1+build.5", "v1.2-rc.1+build.5")
