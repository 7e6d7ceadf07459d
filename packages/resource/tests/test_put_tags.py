"""The tags ``out`` pushes: order, normalisation, bump_aliases and additional_tags (SPEC B.5.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_image_resource.commands.put.request import PutParams
from registry_image_resource.commands.put.tags import bump_aliases, local_tags, parse_put_version, unique
from registry_image_resource.errors import InputError, RequestError
from registry_image_resource.protocol.models import Source


def tags_of(
    source: Source, params: PutParams, src: Path, existing: list[str] | None = None
) -> tuple[str, ...]:
    local = local_tags(source, params, src)
    aliases: list[str] = []
    if local.bump:
        assert local.version is not None
        aliases = bump_aliases(local.version, local.variant, existing or [])
    return local.with_aliases(aliases)


@pytest.mark.parametrize(
    ("source", "params", "files", "expected"),
    [
        (Source(repository="r", tag="latest"), PutParams(), {}, ("latest",)),
        (Source(repository="r"), PutParams(version="1.2.3"), {}, ("1.2.3",)),
        (Source(repository="r"), PutParams(version="v1.2"), {}, ("1.2.0",)),
        (Source(repository="r"), PutParams(version="1"), {}, ("1.0.0",)),
        (Source(repository="r"), PutParams(version="01.2.3"), {}, ("1.2.3",)),
        (Source(repository="r"), PutParams(version="1.2.3-rc.1+build.5"), {}, ("1.2.3-rc.1+build.5",)),
        (Source(repository="r", variant="alpine"), PutParams(version="1.2"), {}, ("1.2.0-alpine",)),
        (Source(repository="r", tag="dev"), PutParams(version="2.0.0"), {}, ("dev", "2.0.0")),
        (
            Source(repository="r", tag="dev"),
            PutParams(version="2.0.0", additional_tags="tags"),
            {"tags": "a b\n\tc  \n"},
            ("dev", "2.0.0", "a", "b", "c"),
        ),
        (
            Source(repository="r"),
            PutParams(additional_tags="tags", tag_prefix="pre-"),
            {"tags": "x\u00a0y\u2003z"},
            ("pre-x", "pre-y", "pre-z"),
        ),
        # The file is placed under src even with an absolute path.
        (Source(repository="r"), PutParams(additional_tags="/dir/tags"), {"dir/tags": "only"}, ("only",)),
        # Duplicates are listed as often as they appear.
        (
            Source(repository="r", tag="1.0.0"),
            PutParams(version="1.0.0", additional_tags="tags"),
            {"tags": "1.0.0 x x"},
            ("1.0.0", "1.0.0", "1.0.0", "x", "x"),
        ),
        # A prerelease never gets aliases.
        (Source(repository="r"), PutParams(version="2.0.0-rc.1", bump_aliases=True), {}, ("2.0.0-rc.1",)),
        # "latest" is never added by default.
        (Source(repository="r", tag="x"), PutParams(bump_aliases=True), {}, ("x",)),
    ],
)
def test_tag_list(
    tmp_path: Path, source: Source, params: PutParams, files: dict[str, str], expected: tuple[str, ...]
) -> None:
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    assert tags_of(source, params, tmp_path) == expected


def test_tag_list_with_aliases_in_order(tmp_path: Path) -> None:
    (tmp_path / "tags").write_text("extra")
    source = Source(repository="r", tag="edge")
    params = PutParams(version="1.2.3", bump_aliases=True, additional_tags="tags", tag_prefix="p-")
    assert tags_of(source, params, tmp_path, ["1.2.2"]) == ("edge", "1.2.3", "latest", "1", "1.2", "p-extra")


def test_unique_keeps_first_seen_order() -> None:
    assert unique(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


BUMP_TABLE: list[tuple[str, str, list[str], list[str]]] = [
    # (version, variant, existing tags, aliases)
    ("1.2.3", "", [], ["latest", "1", "1.2"]),
    ("1.2.3", "", ["1.2.3"], ["latest", "1", "1.2"]),  # an equal version does not block
    ("1.2.3", "", ["1.2.2", "1.1.9", "0.9.0"], ["latest", "1", "1.2"]),
    ("1.2.3", "", ["2.0.0"], ["1", "1.2"]),  # newer major: no latest
    ("1.2.3", "", ["1.3.0"], ["1.2"]),  # newer minor of the same major: no latest, no major
    ("1.2.3", "", ["1.2.4"], []),  # newer patch: nothing
    ("1.2.3", "", ["1.3"], ["1.2"]),  # alias tags parse as versions and count (1.3 = 1.3.0)
    ("1.2.3", "", ["2"], ["1", "1.2"]),
    ("1.2.3", "", ["v1.2.4"], []),  # a v prefix counts
    ("1.2.3", "", ["2.0.0-rc.1", "1.3.0-beta"], ["latest", "1", "1.2"]),  # prereleases ignored
    ("1.2.3", "", ["1.3.0-alpine"], ["latest", "1", "1.2"]),  # without variant, -suffix = prerelease
    ("1.2.3", "", ["latest", "edge", "1.2.3.4", "V9.0.0"], ["latest", "1", "1.2"]),  # not versions
    ("1.2.3", "", ["1.2.4+build"], []),  # metadata is ignored in comparisons
    ("1.2.3", "", ["0.9.0", "2.1.0", "1.2.9"], []),
    ("1.2.3", "", ["1.1.5", "1.2.0"], ["latest", "1", "1.2"]),
    ("1.2.3", "", ["3.0.0", "1.2.1"], ["1", "1.2"]),
    ("0.1.0", "", ["0.0.9"], ["latest", "0", "0.1"]),
    ("1.2.3+meta", "", [], ["latest", "1", "1.2"]),
    # Variants: only tags of the same variant count, compared without the suffix.
    ("1.2.3", "alpine", [], ["alpine", "1-alpine", "1.2-alpine"]),
    ("1.2.3", "alpine", ["2.0.0", "1.3.0", "1.2.4"], ["alpine", "1-alpine", "1.2-alpine"]),
    ("1.2.3", "alpine", ["2.0.0-alpine"], ["1-alpine", "1.2-alpine"]),
    ("1.2.3", "alpine", ["1.3.0-alpine"], ["1.2-alpine"]),
    ("1.2.3", "alpine", ["1.2.4-alpine"], []),
    ("1.2.3", "alpine", ["1.3-alpine", "alpine", "latest"], ["1.2-alpine"]),
    ("1.2.3", "alpine", ["2.0.0-slim"], ["alpine", "1-alpine", "1.2-alpine"]),
    ("1.2.3", "alpine", ["2.0.0-rc.1-alpine"], ["alpine", "1-alpine", "1.2-alpine"]),  # prerelease
    ("1.2.3", "alpine", ["1.2.3-alpine"], ["alpine", "1-alpine", "1.2-alpine"]),
    ("1.2.3", "alpine", ["9.9.9-xalpine", "9.9.9-x-alpine"], ["alpine", "1-alpine", "1.2-alpine"]),
]


@pytest.mark.parametrize(("version", "variant", "existing", "expected"), BUMP_TABLE)
def test_bump_aliases(version: str, variant: str, existing: list[str], expected: list[str]) -> None:
    assert bump_aliases(parse_put_version(version), variant, existing) == expected


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("latest", 'invalid semantic version: "latest"'),
        ("1.2.3.4", 'invalid semantic version: "1.2.3.4"'),
        ("V1.0", 'invalid semantic version: "V1.0"'),
        ("1.0.0-rc.01", "failed to parse version: version segment starts with 0"),
        (
            "99999999999999999999.0.0",
            "failed to parse version: Error parsing version segment: strconv.ParseUint: "
            'parsing "99999999999999999999": value out of range',
        ),
    ],
)
def test_invalid_version(tmp_path: Path, version: str, message: str) -> None:
    with pytest.raises(RequestError) as err:
        local_tags(Source(repository="r"), PutParams(version=version), tmp_path)
    assert str(err.value) == message


def test_missing_additional_tags_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        local_tags(Source(repository="r", tag="t"), PutParams(additional_tags="nope"), tmp_path)
    assert str(err.value) == (
        f'could not parse additional tags: failed to read file at "{tmp_path}/nope": '
        f"open {tmp_path}/nope: no such file or directory"
    )


def test_additional_tags_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(InputError) as err:
        local_tags(Source(repository="r", tag="t"), PutParams(additional_tags="dir"), tmp_path)
    assert str(err.value) == (
        f'could not parse additional tags: failed to read file at "{tmp_path}/dir": '
        f"read {tmp_path}/dir: is a directory"
    )


def test_tag_prefix_with_empty_file(tmp_path: Path) -> None:
    (tmp_path / "tags").write_text(" \n")
    with pytest.raises(RequestError) as err:
        local_tags(
            Source(repository="r", tag="t"), PutParams(additional_tags="tags", tag_prefix="p"), tmp_path
        )
    assert str(err.value) == "tag_prefix can only be used when additional_tags are specified"


def test_tag_prefix_without_additional_tags(tmp_path: Path) -> None:
    with pytest.raises(RequestError) as err:
        local_tags(Source(repository="r", tag="t"), PutParams(tag_prefix="p"), tmp_path)
    assert str(err.value) == "tag_prefix can only be used when additional_tags are specified"


def test_no_tag_at_all(tmp_path: Path) -> None:
    (tmp_path / "tags").write_text("")
    with pytest.raises(RequestError) as err:
        local_tags(Source(repository="r"), PutParams(additional_tags="tags"), tmp_path)
    assert str(err.value) == "no tag specified - need either 'version:' in params or 'tag:' in source"


def test_version_error_comes_before_additional_tags_error(tmp_path: Path) -> None:
    with pytest.raises(RequestError, match="invalid semantic version"):
        local_tags(Source(repository="r"), PutParams(version="x", additional_tags="nope"), tmp_path)
