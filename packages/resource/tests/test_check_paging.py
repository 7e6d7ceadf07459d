"""Semver ``check`` over many tags: pages of ``n=1000``, and digest look-ups that start while later
pages are still on their way (SPEC B.3.2.1, A.2.4)."""

from __future__ import annotations

import pytest

from registry_image_resource.commands import check
from registry_image_resource.commands.check.request import CheckRequest
from registry_image_resource.errors import ResourceError
from registry_image_resource.protocol.models import Source, Version

ENV = {"TEST": "true"}
REPO = "test/app"


def _check(registry, version=None):
    request = CheckRequest(source=Source(repository=f"{registry.host}/{REPO}"), version=version)
    return check.run(request, env=ENV)


def _seed(registry, builds):
    one = registry.push_image(REPO, ["1.0.0"], layers=[{"a": b"1"}]).digest
    two = registry.push_image(REPO, ["1.0.1"], layers=[{"a": b"2"}]).digest
    three = registry.push_image(REPO, ["zz-9.9.9"], layers=[{"a": b"3"}]).digest
    registry.push_image(REPO, ["9.0.0"], layers=[{"a": b"9"}])
    registry.delete_tag(REPO, "9.0.0")
    for i in range(builds):
        registry.tag(REPO, "1.0.0", f"build-{i:05d}")
    return one, two, three


def test_semver_pages_by_1000_and_looks_up_while_later_pages_arrive(fake_registry):
    one, two, _ = _seed(fake_registry, 2100)
    fake_registry.tag(REPO, "1.0.1", "zz-2.0.0")
    fake_registry.faults.latency(0.2, r"/tags/list$", method="GET", times=None)
    fake_registry.requests.clear()

    assert _check(fake_registry) == [Version(tag="1.0.0", digest=one), Version(tag="1.0.1", digest=two)]

    log = fake_registry.requests.all()
    pages = [i for i, r in enumerate(log) if r.path.endswith("/tags/list")]
    heads = [i for i, r in enumerate(log) if r.method == "HEAD" and "/manifests/" in r.path]
    assert len(pages) == 3
    assert [log[i].query.count("n=1000") for i in pages] == [1, 1, 1]
    assert sorted(log[i].path.rsplit("/", 1)[1] for i in heads) == ["1.0.0", "1.0.1"]
    # Both versions are on the first page: looked up before the last page was even answered.
    assert max(heads) < pages[-1]


def test_semver_cursor_looked_up_before_its_page_arrives_skips_older_tags(fake_registry):
    _, two, _ = _seed(fake_registry, 1500)
    fake_registry.requests.clear()
    assert _check(fake_registry, Version(tag="1.0.1", digest=two)) == [Version(tag="1.0.1", digest=two)]
    looked_up = [r.path.rsplit("/", 1)[1] for r in fake_registry.requests.find("HEAD", "/manifests/")]
    assert looked_up == ["1.0.1"]


def test_semver_cursor_that_no_longer_names_its_digest_looks_everything_up(fake_registry):
    one, two, _ = _seed(fake_registry, 10)
    result = _check(fake_registry, Version(tag="1.0.1", digest="sha256:" + "0" * 64))
    assert result == [Version(tag="1.0.0", digest=one), Version(tag="1.0.1", digest=two)]


def test_semver_lookup_error_while_pages_arrive_fails_the_check_in_one_line(fake_registry):
    _seed(fake_registry, 1200)
    fake_registry.faults.status(403, r"/manifests/1\.0\.0$", times=None)
    with pytest.raises(ResourceError) as caught:
        _check(fake_registry)
    assert str(caught.value).startswith(
        f"checking origin {fake_registry.host}/{REPO} failed: get tag digest: GET "
    )
    assert "\n" not in str(caught.value)
