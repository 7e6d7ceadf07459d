"""Go filepath semantics for put's ``image`` and ``additional_tags`` params (SPEC B.5.3, B.5.4)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_image_resource.commands.put.globbing import (
    BadPatternError,
    find_image,
    go_clean,
    go_glob,
    go_join,
    go_match,
)
from registry_image_resource.errors import InputError, RequestError


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "."),
        ("abc", "abc"),
        ("abc/def", "abc/def"),
        ("a/b/c", "a/b/c"),
        (".", "."),
        ("..", ".."),
        ("../..", "../.."),
        ("../../abc", "../../abc"),
        ("/abc", "/abc"),
        ("/", "/"),
        ("abc/", "abc"),
        ("/abc/def/", "/abc/def"),
        ("abc//def//ghi", "abc/def/ghi"),
        ("//abc", "/abc"),
        ("///abc", "/abc"),
        ("abc/./def", "abc/def"),
        ("/./abc/def", "/abc/def"),
        ("abc/.", "abc"),
        ("abc/def/ghi/../jkl", "abc/def/jkl"),
        ("abc/def/../ghi/../jkl", "abc/jkl"),
        ("abc/def/..", "abc"),
        ("abc/def/../..", "."),
        ("/abc/def/../..", "/"),
        ("abc/def/../../..", ".."),
        ("/abc/def/../../..", "/"),
        ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
        ("/../abc", "/abc"),
        ("abc/./../def", "def"),
    ],
)
def test_go_clean(path: str, expected: str) -> None:
    assert go_clean(path) == expected


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        (("/src", "image.tar"), "/src/image.tar"),
        (("/src", "/abs/image.tar"), "/src/abs/image.tar"),
        (("/src", "../escape"), "/escape"),
        (("/src", "a/../b"), "/src/b"),
        (("/src", ""), "/src"),
        (("", ""), ""),
        (("/src/", "dir/"), "/src/dir"),
        (("/src", "a\\*b"), "/src/a\\*b"),
    ],
)
def test_go_join(elements: tuple[str, ...], expected: str) -> None:
    assert go_join(*elements) == expected


# Go's own match_test.go table, plus the rules SPEC B.5.4 names.
MATCH_TABLE: list[tuple[str, str, bool | None]] = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "\u03b1", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("[]a]", "]", None),
    ("[-]", "-", None),
    ("[x-]", "x", None),
    ("[x-]", "-", None),
    ("[x-]", "z", None),
    ("[-x]", "x", None),
    ("[-x]", "-", None),
    ("[-x]", "a", None),
    ("\\", "a", None),
    ("[a-b-c]", "a", None),
    ("[", "a", None),
    ("[^", "a", None),
    ("[^bc", "a", None),
    ("a[", "a", None),
    ("a[", "ab", None),
    ("a[", "x", None),
    ("a/b[", "x", None),
    ("*x", "xxx", True),
    # `*` matches a leading dot, unlike the shell.
    ("*", ".hidden", True),
    ("*.tar", ".image.tar", True),
    ("?x", ".x", True),
    # No `**`: two stars are one star and still stop at a separator.
    ("**", "a/b", False),
    ("**/b", "a/b", True),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), MATCH_TABLE)
def test_go_match(pattern: str, name: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(BadPatternError, match=r"^syntax error in pattern$"):
            go_match(pattern, name)
    else:
        assert go_match(pattern, name) is expected


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ["image.tar", ".hidden.tar", "other.tar", "a/image.tar", "b/image.tar", "a/x/deep.tar"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (tmp_path / "star*name").write_bytes(b"x")
    (tmp_path / "layout").mkdir()
    os.symlink("does-not-exist", tmp_path / "dangling")
    return tmp_path


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("image.tar", ["image.tar"]),
        ("*.tar", [".hidden.tar", "image.tar", "other.tar"]),
        ("*/image.tar", ["a/image.tar", "b/image.tar"]),
        ("[ab]/image.tar", ["a/image.tar", "b/image.tar"]),
        ("?/image.tar", ["a/image.tar", "b/image.tar"]),
        ("*/*.tar", ["a/image.tar", "b/image.tar"]),
        ("*/*/*.tar", ["a/x/deep.tar"]),
        ("**/deep.tar", []),
        ("star\\*name", ["star*name"]),
        ("layout", ["layout"]),
        ("lay*", ["layout"]),
        ("dangling", ["dangling"]),
        ("missing.tar", []),
        ("missing/*.tar", []),
        ("image.tar/*", []),
    ],
)
def test_go_glob(tree: Path, pattern: str, expected: list[str]) -> None:
    assert go_glob(go_join(str(tree), pattern)) == [f"{tree}/{name}" for name in expected]


def test_go_glob_bad_pattern_even_without_matching_directory(tree: Path) -> None:
    with pytest.raises(BadPatternError):
        go_glob(go_join(str(tree), "nothing/here/["))


def test_find_image_absolute_param_stays_under_src(tree: Path) -> None:
    assert find_image(str(tree), "/a/image.tar") == f"{tree}/a/image.tar"


def test_find_image_one_match(tree: Path) -> None:
    assert find_image(str(tree), "a/*.tar") == f"{tree}/a/image.tar"


def test_find_image_empty_param_is_src_itself(tree: Path) -> None:
    assert find_image(str(tree), "") == str(tree)


def test_find_image_bad_pattern(tree: Path) -> None:
    with pytest.raises(RequestError) as err:
        find_image(str(tree), "image[.tar")
    assert str(err.value) == "failed to glob path 'image[.tar': syntax error in pattern"


def test_find_image_no_match(tree: Path) -> None:
    with pytest.raises(InputError) as err:
        find_image(str(tree), "nope/*.tar")
    assert str(err.value) == "no files match glob 'nope/*.tar'"


def test_find_image_too_many_matches(tree: Path) -> None:
    with pytest.raises(InputError) as err:
        find_image(str(tree), "*/image.tar")
    assert str(err.value) == (
        f"too many files/directories match glob '*/image.tar': [{tree}/a/image.tar {tree}/b/image.tar]"
    )
