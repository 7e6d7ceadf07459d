"""check in each mode against the fake registry: exact version lists, cursors, mirrors, errors."""

from __future__ import annotations

import pytest

from registry_image_resource.commands import check
from registry_image_resource.commands.check.request import CheckRequest
from registry_image_resource.errors import RequestError, ResourceError
from registry_image_resource.protocol.models import Platform, Source, Version
from registry_image_resource.protocol.optional_models import RegistryMirror
from registry_image_resource.sources.routing import mirror_attempt

ENV = {"TEST": "true"}
REPO = "test/app"


def _image(registry, tags, content, **kw):
    """Push a distinct image under ``tags``; returns its digest."""
    if isinstance(tags, str):
        tags = [tags]
    return registry.push_image(REPO, list(tags), layers=[{"content.txt": content.encode()}], **kw).digest


def _check(registry, version=None, **source):
    request = CheckRequest(source=Source(repository=f"{registry.host}/{REPO}", **source), version=version)
    return check.run(request, env=ENV)


def _v(tag, digest):
    return Version(tag=tag, digest=digest)


# --- tag mode ---------------------------------------------------------------------------------------


def test_tag_mode_current_digest(fake_registry):
    digest = _image(fake_registry, "stable", "a")
    assert _check(fake_registry, tag="stable") == [_v("stable", digest)]


def test_tag_mode_missing_tag_is_empty(fake_registry):
    _image(fake_registry, "other", "a")
    assert _check(fake_registry, tag="stable") == []


def test_tag_mode_cursor_unchanged(fake_registry):
    digest = _image(fake_registry, "stable", "a")
    assert _check(fake_registry, _v("stable", digest), tag="stable") == [_v("stable", digest)]


def test_tag_mode_cursor_moved_and_old_digest_still_present(fake_registry):
    old = _image(fake_registry, "stable", "a")
    new = _image(fake_registry, "stable", "b")
    assert _check(fake_registry, _v("stable", old), tag="stable") == [_v("stable", old), _v("stable", new)]


def test_tag_mode_cursor_digest_gone(fake_registry):
    new = _image(fake_registry, "stable", "b")
    gone = "sha256:" + "0" * 64
    assert _check(fake_registry, _v("stable", gone), tag="stable") == [_v("stable", new)]


def test_tag_mode_relabels_cursor_with_source_tag(fake_registry):
    old = _image(fake_registry, "previous", "a")
    new = _image(fake_registry, "stable", "b")
    assert _check(fake_registry, _v("previous", old), tag="stable") == [_v("stable", old), _v("stable", new)]


def test_tag_mode_ignores_variant_and_constraint(fake_registry):
    digest = _image(fake_registry, "1.0.0", "a")
    assert _check(fake_registry, tag="1.0.0", variant="x", semver_constraint="<0.1") == [_v("1.0.0", digest)]


def test_numeric_tag(fake_registry):
    digest = _image(fake_registry, "1.10", "a")
    assert _check(fake_registry, tag="1.10") == [_v("1.10", digest)]


# --- regex mode -------------------------------------------------------------------------------------


def test_regex_mode_matches_in_registry_order(fake_registry):
    a = _image(fake_registry, ["build-2", "build-10"], "a")
    b = _image(fake_registry, "build-1", "b")
    _image(fake_registry, "release", "c")
    assert _check(fake_registry, tag_regex="^build-[0-9]+$") == [
        _v("build-1", b),
        _v("build-10", a),
        _v("build-2", a),
    ]


def test_regex_mode_is_an_unanchored_search(fake_registry):
    a = _image(fake_registry, ["x-main-1", "main"], "a")
    assert _check(fake_registry, tag_regex="main") == [_v("main", a), _v("x-main-1", a)]


def test_regex_mode_ignores_cursor_and_semver_fields(fake_registry):
    a = _image(fake_registry, "1.0.0", "a")
    b = _image(fake_registry, "2.0.0", "b")
    result = _check(fake_registry, _v("2.0.0", b), tag_regex=r"^\d", semver_constraint="<1", variant="z")
    assert result == [_v("1.0.0", a), _v("2.0.0", b)]


def test_regex_mode_created_at_sort_oldest_first(fake_registry):
    newest = _image(fake_registry, "a-tag", "a", created="2024-03-01T00:00:00Z")
    oldest = _image(fake_registry, "b-tag", "b", created="2022-01-01T00:00:00.123456789Z")
    middle = _image(fake_registry, "c-tag", "c", created="2023-06-01T12:00:00+02:00")
    assert _check(fake_registry, tag_regex="tag", created_at_sort=True) == [
        _v("b-tag", oldest),
        _v("c-tag", middle),
        _v("a-tag", newest),
    ]


def test_regex_mode_created_at_sort_uses_the_platform_child_of_an_index(fake_registry):
    from fake_registry import ImageConfig, build_image, build_index

    def child(platform, created):
        os_name, arch = platform.split("/")
        return build_image(
            [{"p": platform.encode()}], ImageConfig(os=os_name, architecture=arch, created=created)
        )

    first = fake_registry.push(
        REPO,
        build_index(
            [child("linux/amd64", "2024-01-01T00:00:00Z"), child("linux/arm64", "2020-01-01T00:00:00Z")]
        ),
        "one",
    )
    second = fake_registry.push(
        REPO,
        build_index(
            [child("linux/amd64", "2022-01-01T00:00:00Z"), child("linux/arm64", "2023-01-01T00:00:00Z")]
        ),
        "two",
    )
    amd = _check(fake_registry, tag_regex=".", created_at_sort=True, platform=Platform("amd64", "linux"))
    arm = _check(fake_registry, tag_regex=".", created_at_sort=True, platform=Platform("arm64", "linux"))
    assert amd == [_v("two", second), _v("one", first)]
    assert arm == [_v("one", first), _v("two", second)]


def test_regex_mode_created_at_sort_platform_missing(fake_registry):
    fake_registry.push_index(REPO, "multi", platforms=("linux/amd64",))
    with pytest.raises(ResourceError) as caught:
        _check(fake_registry, tag_regex=".", created_at_sort=True, platform=Platform("s390x", "linux"))
    assert str(caught.value) == (
        f"checking origin {fake_registry.host}/{REPO} failed: get remote image: no child with platform "
        f"linux/s390x in index {fake_registry.host}/{REPO}:multi; it has: linux/amd64"
    )


def test_invalid_regex_fails_before_any_request(fake_registry):
    with pytest.raises(RequestError) as caught:
        _check(fake_registry, tag_regex="(?=x)")
    assert str(caught.value) == "source.tag_regex: invalid regex pattern: invalid perl operator: (?="
    assert fake_registry.requests.all() == []


# --- semver mode ------------------------------------------------------------------------------------


def test_semver_initial_check_returns_all_versions_ascending(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    two = _image(fake_registry, "2.0.0", "2")
    ten = _image(fake_registry, "1.10.0", "10")
    _image(fake_registry, "not-a-version", "x")
    assert _check(fake_registry) == [_v("1.0.0", one), _v("1.10.0", ten), _v("2.0.0", two)]


def test_semver_alias_collapsing_to_most_specific_tag(fake_registry):
    d = _image(fake_registry, ["1", "1.2", "1.2.3", "v1.2.3"], "a")
    e = _image(fake_registry, ["1.1", "1.1.0"], "b")
    assert _check(fake_registry) == [_v("1.1.0", e), _v("1.2.3", d)]


def test_semver_final_release_beats_prerelease_alias(fake_registry):
    d = _image(fake_registry, ["1.0.0-rc.1", "1.0.0"], "a")
    assert _check(fake_registry, pre_releases=True) == [_v("1.0.0", d)]


def test_semver_latest_appended_when_it_names_no_version(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    latest = _image(fake_registry, "latest", "edge")
    assert _check(fake_registry) == [_v("1.0.0", one), _v("latest", latest)]


def test_semver_latest_not_appended_when_it_is_a_version(fake_registry):
    one = _image(fake_registry, ["1.0.0", "latest"], "1")
    assert _check(fake_registry) == [_v("1.0.0", one)]


def test_semver_latest_not_appended_with_a_constraint(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    _image(fake_registry, "latest", "edge")
    assert _check(fake_registry, semver_constraint=">=1") == [_v("1.0.0", one)]


def test_semver_only_latest(fake_registry):
    latest = _image(fake_registry, "latest", "edge")
    assert _check(fake_registry) == [_v("latest", latest)]


def test_semver_constraint_filters(fake_registry):
    _image(fake_registry, "1.0.0", "1")
    b = _image(fake_registry, "1.5.0", "15")
    _image(fake_registry, "2.0.0", "2")
    assert _check(fake_registry, semver_constraint="~1.5") == [_v("1.5.0", b)]


def test_semver_constraint_with_prereleases(fake_registry):
    _image(fake_registry, "1.0.0", "1")
    rc = _image(fake_registry, "2.0.0-rc.1", "rc")
    assert _check(fake_registry, semver_constraint=">=2.0.0-0", pre_releases=True) == [_v("2.0.0-rc.1", rc)]
    assert _check(fake_registry, semver_constraint=">=2.0.0", pre_releases=True) == []


def test_semver_prereleases_off_by_default(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    _image(fake_registry, "2.0.0-rc.1", "rc")
    assert _check(fake_registry) == [_v("1.0.0", one)]


def test_semver_prerelease_prefixes(fake_registry):
    rc = _image(fake_registry, "1.0.0-rc1", "rc")
    alpha = _image(fake_registry, "1.0.0-alphabet", "ab")
    dev = _image(fake_registry, "1.0.0-dev.3", "dev")
    _image(fake_registry, "1.0.0-beta-x", "bx")
    assert _check(fake_registry, pre_releases=True) == [_v("1.0.0-alphabet", alpha), _v("1.0.0-rc1", rc)]
    bx = _image(fake_registry, "1.0.0-beta-x", "bx")
    assert _check(fake_registry, pre_releases=True, pre_release_prefixes=("dev",)) == [
        _v("1.0.0-alphabet", alpha),
        _v("1.0.0-beta-x", bx),
        _v("1.0.0-dev.3", dev),
        _v("1.0.0-rc1", rc),
    ]


def test_semver_variant(fake_registry):
    _image(fake_registry, "1.0.0", "plain")
    a = _image(fake_registry, "1.0.0-alpine", "a1")
    b = _image(fake_registry, ["1.1.0-alpine", "1.1-alpine"], "a2")
    _image(fake_registry, "latest", "l")
    bare = _image(fake_registry, "alpine", "edge")
    assert _check(fake_registry, variant="alpine") == [
        _v("1.0.0-alpine", a),
        _v("1.1.0-alpine", b),
        _v("alpine", bare),
    ]


def test_semver_without_variant_drops_variant_tags(fake_registry):
    one = _image(fake_registry, "1.0.0", "plain")
    _image(fake_registry, "1.1.0-alpine", "a")
    assert _check(fake_registry) == [_v("1.0.0", one)]
    assert _check(fake_registry, pre_releases=True) == [_v("1.0.0", one)]


def test_semver_variant_with_prerelease_prefixes(fake_registry):
    d = _image(fake_registry, "1.0.0-alpha.1-bar-foo", "x")
    assert _check(fake_registry, variant="foo", pre_releases=True) == []
    assert _check(fake_registry, variant="foo", pre_releases=True, pre_release_prefixes=("zzz",)) == [
        _v("1.0.0-alpha.1-bar-foo", d)
    ]


def test_semver_cursor_skips_older_tags_without_looking_them_up(fake_registry):
    digests = {tag: _image(fake_registry, tag, tag) for tag in ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]}
    fake_registry.requests.clear()
    result = _check(fake_registry, _v("1.2.0", digests["1.2.0"]))
    assert result == [_v("1.2.0", digests["1.2.0"]), _v("1.3.0", digests["1.3.0"])]
    looked_up = sorted(r.path.rsplit("/", 1)[1] for r in fake_registry.requests.find("HEAD", "/manifests/"))
    assert looked_up == ["1.2.0", "1.3.0"]


def test_semver_cursor_skips_less_specific_equal_aliases(fake_registry):
    d = _image(fake_registry, ["6.3", "6.3.0"], "x")
    assert _check(fake_registry, _v("6.3.0", d)) == [_v("6.3.0", d)]


def test_semver_cursor_with_changed_digest_returns_everything(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    two = _image(fake_registry, "2.0.0", "2")
    assert _check(fake_registry, _v("2.0.0", "sha256:" + "1" * 64)) == [_v("1.0.0", one), _v("2.0.0", two)]


def test_semver_cursor_tag_missing_returns_everything(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    assert _check(fake_registry, _v("0.5.0", "sha256:" + "1" * 64)) == [_v("1.0.0", one)]


def test_semver_cursor_on_latest_is_no_cursor(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    latest = _image(fake_registry, "latest", "l")
    assert _check(fake_registry, _v("latest", latest)) == [_v("1.0.0", one), _v("latest", latest)]


def test_semver_latest_pointing_below_cursor_is_emitted_after_it(fake_registry):
    # Go's behaviour, kept: versions below the cursor are not looked up, so their aliases are unknown.
    old = _image(fake_registry, ["1.0.0", "latest"], "1")
    new = _image(fake_registry, "2.0.0", "2")
    assert _check(fake_registry, _v("2.0.0", new)) == [_v("2.0.0", new), _v("latest", old)]


def test_semver_missing_manifest_is_skipped(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    _image(fake_registry, "2.0.0", "2")
    fake_registry.faults.status(404, r"/manifests/2\.0\.0$", times=None)
    assert _check(fake_registry) == [_v("1.0.0", one)]


def test_invalid_constraint_fails_before_any_request(fake_registry):
    with pytest.raises(RequestError) as caught:
        _check(fake_registry, semver_constraint=">= 1.0 || nonsense")
    assert (
        str(caught.value)
        == 'source.semver_constraint: parse semver constraint: improper constraint: "nonsense"'
    )
    assert fake_registry.requests.all() == []


# --- errors and retries ---------------------------------------------------------------------------------


def test_unknown_repository_names_registry_status_and_code(fake_registry):
    with pytest.raises(ResourceError) as caught:
        _check(fake_registry)
    assert str(caught.value) == (
        f"checking origin {fake_registry.host}/{REPO} failed: list repository tags: "
        f"GET http://{fake_registry.host}/v2/{REPO}/tags/list?n=1000: 404 Not Found: NAME_UNKNOWN: "
        "repository name not known to registry"
    )


def test_check_retries_429_with_retry_after(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    fake_registry.faults.status(429, r"/tags/list", retry_after=1)
    assert _check(fake_registry) == [_v("1.0.0", one)]


def test_check_retries_503_twice(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    fake_registry.faults.status(503, r"/manifests/", times=2)
    assert _check(fake_registry) == [_v("1.0.0", one)]


def test_check_retries_a_reset_connection(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    fake_registry.faults.reset(r"/tags/list")
    assert _check(fake_registry) == [_v("1.0.0", one)]


def test_head_without_digest_header_falls_back_to_get(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    fake_registry.faults.quirk("no_digest_header", method="HEAD")
    assert _check(fake_registry) == [_v("1.0.0", one)]
    assert fake_registry.requests.find("GET", r"/manifests/1\.0\.0$")


# --- mirrors ------------------------------------------------------------------------------------------


def test_mirror_ignored_for_other_registries(fake_registry):
    one = _image(fake_registry, "1.0.0", "1")
    source = Source(
        repository=f"{fake_registry.host}/{REPO}", registry_mirror=RegistryMirror(host="127.0.0.1:1")
    )
    assert check.run(CheckRequest(source=source), env=ENV) == [_v("1.0.0", one)]


def test_mirror_repository_for_docker_hub():
    source = Source(
        repository="alpine",
        registry_mirror=RegistryMirror(host="mirror.local:5000", username="m", password="p"),
    )
    attempt = mirror_attempt(source)
    assert attempt is not None
    repo, options = attempt.repository, attempt.options
    assert (repo.registry, repo.path, options.username, options.password) == (
        "mirror.local:5000",
        "library/alpine",
        "m",
        "p",
    )


def test_mirror_host_must_be_an_authority():
    source = Source(repository="alpine", registry_mirror=RegistryMirror(host="https://mirror.local"))
    with pytest.raises(RequestError) as caught:
        check.run(CheckRequest(source=source), env=ENV)
    assert str(caught.value) == (
        "failed to resolve mirror: parse mirror registry: registries must be valid RFC 3986 URI authorities: https://mirror.local"
    )


# --- auth flavours of the fake registry ----------------------------------------------------------------


def test_bearer_auth_with_credentials(fake_registry_factory):
    registry = fake_registry_factory(users=["ci:secret"], auth="bearer")
    one = _image(registry, "1.0.0", "1")
    source = Source(repository=f"{registry.host}/{REPO}", username="ci", password="secret")
    assert check.run(CheckRequest(source=source), env=ENV) == [_v("1.0.0", one)]
    token_requests = registry.requests.find("GET", r"^/token")
    assert len(token_requests) == 1


def test_bearer_auth_wrong_password(fake_registry_factory):
    registry = fake_registry_factory(users=["ci:secret"], auth="bearer")
    _image(registry, "1.0.0", "1")
    source = Source(repository=f"{registry.host}/{REPO}", username="ci", password="nope")
    with pytest.raises(ResourceError) as caught:
        check.run(CheckRequest(source=source), env=ENV)
    text = str(caught.value)
    assert text.startswith(
        f"checking origin {registry.host}/{REPO} failed: initialize transport: fetching a token for "
    )
    assert "401 Unauthorized" in text
    assert "nope" not in text


def test_bearer_anonymous_pull(fake_registry_factory):
    registry = fake_registry_factory(users=["ci:secret"], auth="bearer", anonymous_pull=True)
    one = _image(registry, "1.0.0", "1")
    source = Source(repository=f"{registry.host}/{REPO}")
    assert check.run(CheckRequest(source=source), env=ENV) == [_v("1.0.0", one)]


def test_basic_auth(fake_registry_factory):
    registry = fake_registry_factory(users=["ci:secret"])
    one = _image(registry, "stable", "1")
    source = Source(repository=f"{registry.host}/{REPO}", username="ci", password="secret", tag="stable")
    assert check.run(CheckRequest(source=source), env=ENV) == [_v("stable", one)]


def test_tls_registry_with_ca_certs(fake_registry_factory):
    registry = fake_registry_factory(tls=True)
    one = _image(registry, "stable", "1")
    source = Source(repository=f"{registry.host}/{REPO}", tag="stable", ca_certs=(registry.ca_pem,))
    assert check.run(CheckRequest(source=source), env=ENV) == [_v("stable", one)]


# --- registry mirror, with Docker Hub impersonated through HTTPS_PROXY -----------------------------------


@pytest.fixture
def docker_hub(fake_registry_factory, monkeypatch):
    """A fake registry answering for index.docker.io through its impersonation proxy."""
    hub = fake_registry_factory(proxy=True)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", hub.proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return hub


def _hub_check(hub, mirror_host, **fields):
    source = Source(
        repository="alpine",
        tag="3.19",
        ca_certs=(hub.ca_pem,),
        registry_mirror=RegistryMirror(host=mirror_host, username="mirror-user", password="mirror-secret"),
        **fields,
    )
    return check.run(CheckRequest(source=source), env=ENV)


def test_mirror_hit_does_not_contact_docker_hub(docker_hub, fake_registry):
    docker_hub.push_image("library/alpine", "3.19", layers=[{"f": b"hub"}])
    mirrored = fake_registry.push_image("library/alpine", "3.19", layers=[{"f": b"mirror"}]).digest
    assert _hub_check(docker_hub, fake_registry.host) == [_v("3.19", mirrored)]
    assert docker_hub.requests.all() == []


def test_mirror_miss_falls_back_to_docker_hub(docker_hub, fake_registry, caplog):
    origin = docker_hub.push_image("library/alpine", "3.19", layers=[{"f": b"hub"}]).digest
    fake_registry.push_image("library/other", "1", layers=[{"f": b"x"}])
    assert _hub_check(docker_hub, fake_registry.host) == [_v("3.19", origin)]
    assert [r.host for r in docker_hub.requests.all()][-1] == "index.docker.io"
    assert f"checking mirror {fake_registry.host}/library/alpine failed: tag not found" in caplog.text


def test_mirror_down_falls_back_to_docker_hub(docker_hub, caplog):
    import socket

    origin = docker_hub.push_image("library/alpine", "3.19", layers=[{"f": b"hub"}]).digest
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{sock.getsockname()[1]}"
    assert _hub_check(docker_hub, down) == [_v("3.19", origin)]
    assert f"checking mirror {down}/library/alpine failed: initialize transport: " in caplog.text


def test_mirror_credentials_never_reach_docker_hub(docker_hub, fake_registry):
    # The mirror misses, the origin (anonymous: no source credentials) is asked without any
    # Authorization header at all (the log masks values, so presence is what can be checked).
    docker_hub.push_image("library/alpine", "3.19", layers=[{"f": b"hub"}])
    _hub_check(docker_hub, fake_registry.host)
    assert docker_hub.requests.all()
    assert [r.header("Authorization") for r in docker_hub.requests.all()] == [None] * len(
        docker_hub.requests.all()
    )
