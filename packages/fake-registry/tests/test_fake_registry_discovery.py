"""Content discovery: tag lists with pagination, the catalog, and the referrers API."""

import pytest
import requests

from fake_registry import build_image

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture
def tagged(fake_registry):
    image = fake_registry.push_image("d/app", ["b", "a", "d", "c", "e"])
    return fake_registry, image


def test_tags_list_sorted(tagged):
    reg, _ = tagged
    r = requests.get(f"{reg.url}/v2/d/app/tags/list")
    assert r.json() == {"name": "d/app", "tags": ["a", "b", "c", "d", "e"]}
    assert "Link" not in r.headers


def test_tags_pagination_follows_link(tagged):
    reg, _ = tagged
    pages, url = [], f"{reg.url}/v2/d/app/tags/list?n=2"
    while url:
        r = requests.get(url)
        pages.append(r.json()["tags"])
        url = f"{reg.url}{r.links['next']['url']}" if "next" in r.links else ""
    assert pages == [["a", "b"], ["c", "d"], ["e"]]
    assert (
        requests.get(f"{reg.url}/v2/d/app/tags/list?n=2").headers["Link"]
        == '</v2/d/app/tags/list?last=b&n=2>; rel="next"'
    )


def test_tags_last_without_n(tagged):
    reg, _ = tagged
    assert requests.get(f"{reg.url}/v2/d/app/tags/list?last=c").json()["tags"] == ["d", "e"]


def test_tags_invalid_n(tagged):
    reg, _ = tagged
    r = requests.get(f"{reg.url}/v2/d/app/tags/list?n=x")
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "PAGINATION_NUMBER_INVALID")


def test_tags_of_unknown_repository(fake_registry):
    r = requests.get(f"{fake_registry.url}/v2/d/none/tags/list")
    assert (r.status_code, r.json()["errors"][0]["code"]) == (404, "NAME_UNKNOWN")


def test_catalog_with_pagination(fake_registry):
    for name in ("z/one", "a/two", "m/three"):
        fake_registry.push_image(name, "v1")
    assert requests.get(f"{fake_registry.url}/v2/_catalog").json() == {
        "repositories": ["a/two", "m/three", "z/one"]
    }
    r = requests.get(f"{fake_registry.url}/v2/_catalog?n=1")
    assert r.json() == {"repositories": ["a/two"]}
    assert r.headers["Link"] == '</v2/_catalog?last=a%2Ftwo&n=1>; rel="next"'


def test_referrers_lists_manifests_with_that_subject(fake_registry):
    target = fake_registry.push_image("d/app", "v1")
    sbom = fake_registry.push_image(
        "d/app",
        None,
        layers=[{"sbom.json": b"{}"}],
        subject=target,
        artifact_type="application/spdx+json",
        annotations={"k": "v"},
    )
    sig = fake_registry.push_image(
        "d/app", None, layers=[], subject=target, artifact_type="application/vnd.sig"
    )
    fake_registry.push_image("d/app", "unrelated", layers=[{"x": b"x"}])
    r = requests.get(f"{fake_registry.url}/v2/d/app/referrers/{target.digest}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    body = r.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == OCI_INDEX
    expected = {
        sbom.digest: {
            "mediaType": sbom.media_type,
            "digest": sbom.digest,
            "size": len(sbom.manifest),
            "artifactType": "application/spdx+json",
            "annotations": {"k": "v"},
        },
        sig.digest: {
            "mediaType": sig.media_type,
            "digest": sig.digest,
            "size": len(sig.manifest),
            "artifactType": "application/vnd.sig",
        },
    }
    assert body["manifests"] == [expected[d] for d in sorted(expected)]


def test_referrers_artifact_type_filter(fake_registry):
    target = fake_registry.push_image("d/app", "v1")
    fake_registry.push_image("d/app", None, layers=[], subject=target, artifact_type="a/one")
    two = fake_registry.push_image("d/app", None, layers=[], subject=target, artifact_type="a/two")
    r = requests.get(
        f"{fake_registry.url}/v2/d/app/referrers/{target.digest}", params={"artifactType": "a/two"}
    )
    assert [m["digest"] for m in r.json()["manifests"]] == [two.digest]
    assert r.headers["OCI-Filters-Applied"] == "artifactType"


def test_referrers_artifact_type_defaults_to_config_media_type(fake_registry):
    target = fake_registry.push_image("d/app", "v1")
    fake_registry.push_blob("d/app", b"{}")
    art = build_image([], subject=target, config_bytes=b"{}", config_media_type="application/vnd.example.cfg")
    fake_registry.push("d/app", art)
    r = requests.get(f"{fake_registry.url}/v2/d/app/referrers/{target.digest}")
    assert r.json()["manifests"][0]["artifactType"] == "application/vnd.example.cfg"


def test_referrers_of_unknown_digest_is_empty(fake_registry):
    fake_registry.push_image("d/app", "v1")
    r = requests.get(f"{fake_registry.url}/v2/d/app/referrers/sha256:" + "4" * 64)
    assert (r.status_code, r.json()["manifests"]) == (200, [])


def test_referrers_paginate_with_n_last_and_link(fake_registry):
    target = fake_registry.push_image("d/app", "v1")
    digests = sorted(
        fake_registry.push_image(
            "d/app", None, layers=[{"n": str(i)}], subject=target, artifact_type="a/x"
        ).digest
        for i in range(3)
    )
    url = f"{fake_registry.url}/v2/d/app/referrers/{target.digest}"
    first = requests.get(url, params={"n": "2"})
    assert [m["digest"] for m in first.json()["manifests"]] == digests[:2]
    assert first.headers["Link"] == f'</v2/d/app/referrers/{target.digest}?last={digests[1]}&n=2>; rel="next"'
    second = requests.get(f"{fake_registry.url}{first.headers['Link'][1:].split('>')[0]}")
    assert [m["digest"] for m in second.json()["manifests"]] == digests[2:]
    assert "Link" not in second.headers


def test_referrers_link_keeps_the_artifact_type_filter(fake_registry):
    target = fake_registry.push_image("d/app", "v1")
    for i in range(2):
        fake_registry.push_image("d/app", None, layers=[{"n": str(i)}], subject=target, artifact_type="a/x")
    r = requests.get(
        f"{fake_registry.url}/v2/d/app/referrers/{target.digest}", params={"n": "1", "artifactType": "a/x"}
    )
    [item] = r.json()["manifests"]
    assert r.headers["Link"] == (
        f'</v2/d/app/referrers/{target.digest}?artifactType=a%2Fx&last={item["digest"]}&n=1>; rel="next"'
    )
