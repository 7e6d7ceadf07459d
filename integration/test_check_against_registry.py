"""check (SPEC B.3) against the real registry:2: every mode, cursor case and semver rule, exact lists.

Images are pushed with the resource's own client (``push`` in the client tests); the check runs
in-process through ``check.run`` and, once per registry variant, as the real CLI process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fake_registry import ImageConfig, build_image, build_index
from integration.servers import RegistryServer
from integration.test_check_registry_client import VARIANTS, image, push
from registry_image_resource.commands import check
from registry_image_resource.commands.check.request import CheckRequest
from registry_image_resource.errors import RequestError, ResourceError
from registry_image_resource.protocol.models import Platform, Source, Version

ENV = {"TEST": "true"}


@pytest.fixture(params=VARIANTS)
def server(request: pytest.FixtureRequest) -> RegistryServer:
    return request.getfixturevalue(request.param)


def source_for(server: RegistryServer, repo: str, **fields) -> Source:
    return Source(
        repository=server.repository(repo),
        username=server.username or "",
        password=server.password or "",
        ca_certs=(server.ca_pem,) if server.ca_pem else (),
        **fields,
    )


def run_check(server: RegistryServer, repo: str, version: Version | None = None, **fields) -> list[Version]:
    return check.run(CheckRequest(source=source_for(server, repo, **fields), version=version), env=ENV)


def v(tag: str, digest: str) -> Version:
    return Version(tag=tag, digest=digest)


class Repo:
    """Push distinct images to one repository and remember their digests by tag."""

    def __init__(self, server: RegistryServer, name: str) -> None:
        self.server, self.name = server, name

    def push(self, *tags: str, content: str | None = None, **kw) -> str:
        return push(self.server, self.name, image(content or tags[0], **kw), *tags)


@pytest.fixture
def repo(server: RegistryServer, repo_name: str) -> Repo:
    return Repo(server, repo_name)


@pytest.fixture
def plain(registry: RegistryServer, repo_name: str) -> Repo:
    return Repo(registry, repo_name)


# --- every variant: the CLI process, tag and semver modes -----------------------------------------


def test_cli_check_semver(repo: Repo) -> None:
    one = repo.push("1.0.0")
    two = repo.push("2.0.0", "2.0", "latest")
    source = source_for(repo.server, repo.name)
    request = {
        "source": {
            "repository": source.repository,
            "username": source.username,
            "password": source.password,
            "ca_certs": list(source.ca_certs),
        },
        "version": None,
    }
    result = subprocess.run(
        [sys.executable, "-m", "registry_image_resource", "check"],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=120,
        env={**os.environ, "TEST": "true"},
        check=False,
    )
    assert (result.returncode, result.stderr.decode()) == (0, "")
    assert json.loads(result.stdout) == [{"tag": "1.0.0", "digest": one}, {"tag": "2.0.0", "digest": two}]


def test_tag_mode(repo: Repo) -> None:
    old = repo.push("stable", content="old")
    new = repo.push("stable", content="new")
    assert run_check(repo.server, repo.name, tag="stable") == [v("stable", new)]
    assert run_check(repo.server, repo.name, v("stable", old), tag="stable") == [
        v("stable", old),
        v("stable", new),
    ]
    assert run_check(repo.server, repo.name, v("stable", new), tag="stable") == [v("stable", new)]


def test_semver_with_cursor(repo: Repo) -> None:
    digests = {tag: repo.push(tag) for tag in ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]}
    assert run_check(repo.server, repo.name, v("1.1.0", digests["1.1.0"])) == [
        v("1.1.0", digests["1.1.0"]),
        v("1.2.0", digests["1.2.0"]),
        v("2.0.0", digests["2.0.0"]),
    ]


# --- tag mode (B.3.4) -------------------------------------------------------------------------------


def test_tag_mode_missing_tag(plain: Repo) -> None:
    plain.push("other")
    assert run_check(plain.server, plain.name, tag="stable") == []


def test_tag_mode_missing_tag_with_existing_cursor_digest(plain: Repo) -> None:
    other = plain.push("other")
    assert run_check(plain.server, plain.name, v("stable", other), tag="stable") == []


def test_tag_mode_cursor_digest_deleted(plain: Repo) -> None:
    new = plain.push("stable")
    gone = "sha256:" + "e" * 64
    assert run_check(plain.server, plain.name, v("stable", gone), tag="stable") == [v("stable", new)]


def test_tag_mode_relabels_the_cursor(plain: Repo) -> None:
    old = plain.push("old")
    new = plain.push("stable")
    assert run_check(plain.server, plain.name, v("old", old), tag="stable") == [
        v("stable", old),
        v("stable", new),
    ]


def test_tag_mode_multi_arch_digest_is_the_index(plain: Repo) -> None:
    index = build_index([image("a", architecture="amd64"), image("b", architecture="arm64")])
    push(plain.server, plain.name, index, "multi")
    assert run_check(plain.server, plain.name, tag="multi") == [v("multi", index.digest)]


def test_tag_mode_docker_media_types(plain: Repo) -> None:
    digest = plain.push("docker", docker=True)
    assert run_check(plain.server, plain.name, tag="docker") == [v("docker", digest)]


# --- regex mode (B.3.3) -----------------------------------------------------------------------------


def test_regex_mode_registry_order_and_duplicates(plain: Repo) -> None:
    a = plain.push("build-2", "build-10", content="a")
    b = plain.push("build-1", content="b")
    plain.push("release")
    assert run_check(plain.server, plain.name, tag_regex="^build-") == [
        v("build-1", b),
        v("build-10", a),
        v("build-2", a),
    ]


def test_regex_mode_ignores_cursor_and_latest(plain: Repo) -> None:
    a = plain.push("latest", "x-1", content="a")
    result = run_check(plain.server, plain.name, v("x-1", a), tag_regex="-1$|latest")
    assert result == [v("latest", a), v("x-1", a)]


def test_regex_mode_created_at_sort(plain: Repo) -> None:
    newest = plain.push("a", created="2024-05-01T00:00:00Z")
    oldest = plain.push("b", created="2020-01-01T00:00:00Z")
    middle = plain.push("c", created="2022-02-02T02:02:02.5Z")
    assert run_check(plain.server, plain.name, tag_regex=".", created_at_sort=True) == [
        v("b", oldest),
        v("c", middle),
        v("a", newest),
    ]


def test_regex_mode_created_at_sort_multi_arch(plain: Repo) -> None:
    first = build_index(
        [
            build_image([{"x": b"1"}], ImageConfig(architecture="amd64", created="2024-01-01T00:00:00Z")),
            build_image(
                [{"x": b"2"}], ImageConfig(architecture="arm64", variant="v8", created="2020-01-01T00:00:00Z")
            ),
        ]
    )
    second = build_index(
        [
            build_image([{"x": b"3"}], ImageConfig(architecture="amd64", created="2022-01-01T00:00:00Z")),
            build_image(
                [{"x": b"4"}], ImageConfig(architecture="arm64", variant="v8", created="2023-01-01T00:00:00Z")
            ),
        ]
    )
    push(plain.server, plain.name, first, "one")
    push(plain.server, plain.name, second, "two")
    amd = run_check(
        plain.server, plain.name, tag_regex=".", created_at_sort=True, platform=Platform("amd64", "linux")
    )
    arm = run_check(
        plain.server,
        plain.name,
        tag_regex=".",
        created_at_sort=True,
        platform=Platform("arm64", "linux", "v8"),
    )
    assert amd == [v("two", second.digest), v("one", first.digest)]
    assert arm == [v("one", first.digest), v("two", second.digest)]


def test_regex_mode_no_match(plain: Repo) -> None:
    plain.push("a")
    assert run_check(plain.server, plain.name, tag_regex="^z") == []


def test_invalid_regex(plain: Repo) -> None:
    with pytest.raises(RequestError) as caught:
        run_check(plain.server, plain.name, tag_regex="a(?!b)")
    assert str(caught.value) == "source.tag_regex: invalid regex pattern: invalid perl operator: (?!"


# --- semver mode (B.3.2) ----------------------------------------------------------------------------


def test_semver_initial_check_all_versions(plain: Repo) -> None:
    d = {
        t: plain.push(t)
        for t in ["0.9.0", "1.10.0", "1.2.0", "2.0.0", "v3.0.0", "20240101", "not-semver", "1.2.3.4"]
    }
    assert run_check(plain.server, plain.name) == [
        v("0.9.0", d["0.9.0"]),
        v("1.2.0", d["1.2.0"]),
        v("1.10.0", d["1.10.0"]),
        v("2.0.0", d["2.0.0"]),
        v("v3.0.0", d["v3.0.0"]),
        v("20240101", d["20240101"]),
    ]


def test_semver_aliases_collapse_to_most_specific(plain: Repo) -> None:
    a = plain.push("1", "1.2", "1.2.3", content="a")
    b = plain.push("1.1", "1.1.0", content="b")
    c = plain.push("2", content="c")
    assert run_check(plain.server, plain.name) == [v("1.1.0", b), v("1.2.3", a), v("2", c)]


def test_semver_final_beats_prerelease_for_the_same_digest(plain: Repo) -> None:
    a = plain.push("1.0.0-rc.1", "1.0.0", content="a")
    assert run_check(plain.server, plain.name, pre_releases=True) == [v("1.0.0", a)]


def test_semver_latest_rule(plain: Repo) -> None:
    one = plain.push("1.0.0")
    edge = plain.push("latest", content="edge")
    assert run_check(plain.server, plain.name) == [v("1.0.0", one), v("latest", edge)]
    plain.push("2.0.0", content="edge")
    two = edge
    assert run_check(plain.server, plain.name) == [v("1.0.0", one), v("2.0.0", two)]


def test_semver_latest_never_with_constraint(plain: Repo) -> None:
    one = plain.push("1.0.0")
    plain.push("latest", content="edge")
    assert run_check(plain.server, plain.name, semver_constraint="*") == [v("1.0.0", one)]


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        (">=1.2 <2", ["1.2.0", "1.5.3"]),
        ("~1.5", ["1.5.3"]),
        ("^1.0", ["1.0.0", "1.2.0", "1.5.3"]),
        ("1.x || >=3", ["1.0.0", "1.2.0", "1.5.3", "3.1.0"]),
        ("1.2 - 2.0", ["1.2.0", "1.5.3", "2.0.0"]),
        ("!=1.2.0, <2", ["1.0.0", "1.5.3"]),
        (">=3.1.0-0", ["3.1.0"]),
    ],
)
def test_semver_constraints(plain: Repo, constraint: str, expected: list[str]) -> None:
    d = {t: plain.push(t) for t in ["1.0.0", "1.2.0", "1.5.3", "2.0.0", "3.1.0", "3.2.0-rc.1"]}
    assert run_check(plain.server, plain.name, semver_constraint=constraint) == [v(t, d[t]) for t in expected]


def test_semver_constraint_with_prereleases(plain: Repo) -> None:
    d = {t: plain.push(t) for t in ["3.1.0", "3.2.0-rc.1", "3.2.0-beta.2"]}
    assert run_check(plain.server, plain.name, semver_constraint=">=3.1.0-0", pre_releases=True) == [
        v("3.1.0", d["3.1.0"]),
        v("3.2.0-beta.2", d["3.2.0-beta.2"]),
        v("3.2.0-rc.1", d["3.2.0-rc.1"]),
    ]
    assert run_check(plain.server, plain.name, semver_constraint=">=3.1.0", pre_releases=True) == [
        v("3.1.0", d["3.1.0"])
    ]


def test_semver_prereleases(plain: Repo) -> None:
    d = {
        t: plain.push(t)
        for t in ["1.0.0", "1.1.0-rc1", "1.1.0-alpha.2", "1.1.0-beta-x", "1.1.0-dev.1", "1.1.0-foo"]
    }
    assert run_check(plain.server, plain.name) == [v("1.0.0", d["1.0.0"])]
    assert run_check(plain.server, plain.name, pre_releases=True) == [
        v("1.0.0", d["1.0.0"]),
        v("1.1.0-alpha.2", d["1.1.0-alpha.2"]),
        v("1.1.0-rc1", d["1.1.0-rc1"]),
    ]
    assert run_check(plain.server, plain.name, pre_releases=True, pre_release_prefixes=("dev",)) == [
        v("1.0.0", d["1.0.0"]),
        v("1.1.0-alpha.2", d["1.1.0-alpha.2"]),
        v("1.1.0-beta-x", d["1.1.0-beta-x"]),
        v("1.1.0-dev.1", d["1.1.0-dev.1"]),
        v("1.1.0-rc1", d["1.1.0-rc1"]),
    ]
    assert run_check(plain.server, plain.name, pre_release_prefixes=("dev",)) == [v("1.0.0", d["1.0.0"])]


def test_semver_variant(plain: Repo) -> None:
    d = {
        t: plain.push(t)
        for t in ["1.0.0", "1.0.0-alpine", "1.1.0-alpine", "1.2.0-rc.1-alpine", "latest", "alpine"]
    }
    assert run_check(plain.server, plain.name, variant="alpine") == [
        v("1.0.0-alpine", d["1.0.0-alpine"]),
        v("1.1.0-alpine", d["1.1.0-alpine"]),
        v("alpine", d["alpine"]),
    ]
    assert run_check(plain.server, plain.name, variant="alpine", pre_releases=True) == [
        v("1.0.0-alpine", d["1.0.0-alpine"]),
        v("1.1.0-alpine", d["1.1.0-alpine"]),
        v("1.2.0-rc.1-alpine", d["1.2.0-rc.1-alpine"]),
        v("alpine", d["alpine"]),
    ]
    assert run_check(plain.server, plain.name) == [v("1.0.0", d["1.0.0"]), v("latest", d["latest"])]


def test_semver_variant_bare_tag_matching_a_version_is_not_repeated(plain: Repo) -> None:
    a = plain.push("1.0.0-alpine", "alpine", content="a")
    assert run_check(plain.server, plain.name, variant="alpine") == [v("1.0.0-alpine", a)]


def test_semver_cursor_equal_less_specific_alias_skipped(plain: Repo) -> None:
    a = plain.push("6.3", "6.3.0", content="a")
    b = plain.push("6.4.0", content="b")
    assert run_check(plain.server, plain.name, v("6.3.0", a)) == [v("6.3.0", a), v("6.4.0", b)]


def test_semver_cursor_digest_changed(plain: Repo) -> None:
    a = plain.push("1.0.0", content="a")
    b = plain.push("2.0.0", content="b")
    assert run_check(plain.server, plain.name, v("2.0.0", "sha256:" + "f" * 64)) == [
        v("1.0.0", a),
        v("2.0.0", b),
    ]


def test_semver_cursor_tag_gone(plain: Repo) -> None:
    a = plain.push("1.0.0", content="a")
    assert run_check(plain.server, plain.name, v("0.1.0", "sha256:" + "f" * 64)) == [v("1.0.0", a)]


def test_semver_cursor_filtered_out_by_constraint_is_no_cursor(plain: Repo) -> None:
    a = plain.push("1.0.0", content="a")
    b = plain.push("2.0.0", content="b")
    assert run_check(plain.server, plain.name, v("2.0.0", b), semver_constraint="<2") == [v("1.0.0", a)]


def test_semver_latest_below_cursor_is_emitted_after_it(plain: Repo) -> None:
    old = plain.push("1.0.0", "latest", content="old")
    new = plain.push("2.0.0", content="new")
    assert run_check(plain.server, plain.name, v("2.0.0", new)) == [v("2.0.0", new), v("latest", old)]


def test_semver_invalid_constraint(plain: Repo) -> None:
    with pytest.raises(RequestError) as caught:
        run_check(plain.server, plain.name, semver_constraint="> one")
    assert (
        str(caught.value) == 'source.semver_constraint: parse semver constraint: improper constraint: "> one"'
    )


def test_semver_unknown_repository(plain: Repo) -> None:
    with pytest.raises(ResourceError) as caught:
        run_check(plain.server, plain.name)
    assert str(caught.value) == (
        f"checking origin {plain.server.host}/{plain.name} failed: list repository tags: "
        f"GET {plain.server.url}/v2/{plain.name}/tags/list?n=1000: 404 Not Found: NAME_UNKNOWN: "
        "repository name not known to registry"
    )


def test_wrong_credentials(auth_registry: RegistryServer, repo_name: str) -> None:
    source = Source(repository=auth_registry.repository(repo_name), username="nobody", password="wrong")
    with pytest.raises(ResourceError) as caught:
        check.run(CheckRequest(source=source), env=ENV)
    assert str(caught.value) == (
        f"checking origin {auth_registry.host}/{repo_name} failed: list repository tags: "
        f"GET {auth_registry.url}/v2/{repo_name}/tags/list?n=1000: 401 Unauthorized: UNAUTHORIZED: "
        "authentication required"
    )
