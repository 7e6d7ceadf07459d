"""Manifests: push and pull by tag and digest, validation, unknown media types, deletion."""

import hashlib
import json

import pytest
import requests

from fake_registry import FakeRegistry, build_image

OCI = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER = "application/vnd.docker.distribution.manifest.v2+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blobs(reg: FakeRegistry, repo: str, image) -> None:
    for data in image.blobs().values():
        reg.push_blob(repo, data)


@pytest.mark.parametrize("fmt", ["oci", "docker"])
def test_put_then_get_by_tag_and_digest(fake_registry, fmt):
    image = build_image([{"a": b"1"}], format=fmt)
    push_blobs(fake_registry, "m/app", image)
    r = requests.put(
        f"{fake_registry.url}/v2/m/app/manifests/v1",
        data=image.manifest,
        headers={"Content-Type": image.media_type},
    )
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == image.digest
    assert r.headers["Location"] == f"{fake_registry.url}/v2/m/app/manifests/{image.digest}"
    for ref in ("v1", image.digest):
        got = requests.get(
            f"{fake_registry.url}/v2/m/app/manifests/{ref}", headers={"Accept": image.media_type}
        )
        assert (got.status_code, got.content) == (200, image.manifest)
        assert got.headers["Content-Type"] == image.media_type
        assert got.headers["Docker-Content-Digest"] == image.digest
        head = requests.head(f"{fake_registry.url}/v2/m/app/manifests/{ref}")
        assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(image.manifest)))
        assert head.headers["Docker-Content-Digest"] == image.digest


def test_unknown_media_type_is_stored_verbatim(fake_registry):
    body = b'{"schemaVersion": 1, "name": "whatever"}'
    media_type = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    r = requests.put(
        f"{fake_registry.url}/v2/m/old/manifests/v1", data=body, headers={"Content-Type": media_type}
    )
    assert r.status_code == 201
    got = requests.get(f"{fake_registry.url}/v2/m/old/manifests/v1")
    assert (got.content, got.headers["Content-Type"]) == (body, media_type)


def test_missing_blobs_are_manifest_blob_unknown(fake_registry):
    image = build_image([{"a": b"1"}])
    fake_registry.push_blob("m/app", image.config)
    r = requests.put(
        f"{fake_registry.url}/v2/m/app/manifests/v1", data=image.manifest, headers={"Content-Type": OCI}
    )
    assert r.status_code == 400
    assert r.json() == {
        "errors": [
            {
                "code": "MANIFEST_BLOB_UNKNOWN",
                "message": "blob unknown to registry",
                "detail": image.layers[0].digest,
            }
        ]
    }


def test_index_with_unknown_child_is_rejected(fake_registry):
    index = fake_registry.push_index("m/src", "v1")
    r = requests.put(
        f"{fake_registry.url}/v2/m/other/manifests/v1",
        data=index.manifest,
        headers={"Content-Type": index.media_type},
    )
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"schemaVersion": 1}',
        b'{"schemaVersion": 2, "config": {"digest": "sha256:x", "size": 1}}',
    ],
)
def test_malformed_manifest_is_manifest_invalid(fake_registry, body):
    r = requests.put(f"{fake_registry.url}/v2/m/app/manifests/v1", data=body, headers={"Content-Type": OCI})
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "MANIFEST_INVALID")


def test_media_type_mismatch_is_manifest_invalid(fake_registry):
    image = build_image([{"a": b"1"}])
    push_blobs(fake_registry, "m/app", image)
    r = requests.put(
        f"{fake_registry.url}/v2/m/app/manifests/v1", data=image.manifest, headers={"Content-Type": DOCKER}
    )
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "MANIFEST_INVALID")


def test_oversized_manifest_is_manifest_invalid(fake_registry):
    body = b'{"schemaVersion": 2, "x": "' + b"a" * (4 << 20) + b'"}'
    r = requests.put(f"{fake_registry.url}/v2/m/app/manifests/v1", data=body, headers={"Content-Type": OCI})
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "MANIFEST_INVALID")
    assert requests.get(f"{fake_registry.url}/v2/").status_code == 200


def test_put_by_wrong_digest_is_digest_invalid(fake_registry):
    image = build_image([{"a": b"1"}])
    push_blobs(fake_registry, "m/app", image)
    wrong = "sha256:" + "2" * 64
    r = requests.put(
        f"{fake_registry.url}/v2/m/app/manifests/{wrong}", data=image.manifest, headers={"Content-Type": OCI}
    )
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "DIGEST_INVALID")


def test_invalid_tag_is_tag_invalid(fake_registry):
    r = requests.put(
        f"{fake_registry.url}/v2/m/app/manifests/-bad", data=b"{}", headers={"Content-Type": "x/y"}
    )
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "TAG_INVALID")


def test_unknown_tag_and_digest(fake_registry):
    fake_registry.push_image("m/app", "v1")
    r = requests.get(f"{fake_registry.url}/v2/m/app/manifests/nope")
    assert r.json() == {
        "errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": "nope"}}]
    }
    r = requests.get(f"{fake_registry.url}/v2/m/app/manifests/sha256:" + "3" * 64)
    assert (r.status_code, r.json()["errors"][0]["code"]) == (404, "MANIFEST_UNKNOWN")


def test_manifest_of_unknown_repository_is_manifest_unknown_like_registry2(fake_registry):
    r = requests.get(f"{fake_registry.url}/v2/m/none/manifests/v1")
    assert r.json() == {
        "errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": "v1"}}]
    }


def test_delete_by_digest_removes_manifest_and_its_tags(fake_registry):
    image = fake_registry.push_image("m/app", ["v1", "v2"])
    fake_registry.push_image("m/app", "other", layers=[{"b": b"2"}])
    assert requests.delete(f"{fake_registry.url}/v2/m/app/manifests/{image.digest}").status_code == 202
    assert requests.get(f"{fake_registry.url}/v2/m/app/manifests/{image.digest}").status_code == 404
    assert fake_registry.tags("m/app") == ["other"]


def test_delete_by_tag_removes_only_the_tag(fake_registry):
    image = fake_registry.push_image("m/app", ["v1", "v2"])
    assert requests.delete(f"{fake_registry.url}/v2/m/app/manifests/v1").status_code == 202
    assert fake_registry.tags("m/app") == ["v2"]
    assert requests.head(f"{fake_registry.url}/v2/m/app/manifests/{image.digest}").status_code == 200


def test_subject_gets_oci_subject_header(fake_registry):
    target = fake_registry.push_image("m/app", "v1")
    sig = build_image(
        [],
        subject=target,
        artifact_type="application/vnd.example.sig",
        config_bytes=b"{}",
        config_media_type="application/vnd.oci.empty.v1+json",
    )
    fake_registry.push_blob("m/app", b"{}")
    r = requests.put(
        f"{fake_registry.url}/v2/m/app/manifests/{sig.digest}",
        data=sig.manifest,
        headers={"Content-Type": OCI},
    )
    assert r.status_code == 201
    assert r.headers["OCI-Subject"] == target.digest


def test_manifest_not_served_by_blob_endpoint_like_registry2(fake_registry):
    image = fake_registry.push_image("m/app", "v1")
    assert requests.get(f"{fake_registry.url}/v2/m/app/blobs/{image.digest}").status_code == 404


def test_strict_accept_refuses_oci_to_clients_not_asking(fake_registry_factory):
    reg = fake_registry_factory(strict_accept=True)
    image = reg.push_image("m/app", "v1")
    r = requests.get(f"{reg.url}/v2/m/app/manifests/v1", headers={"Accept": DOCKER})
    assert r.json() == {
        "errors": [
            {
                "code": "MANIFEST_UNKNOWN",
                "message": "OCI manifest found, but accept header does not support OCI manifests",
            }
        ]
    }
    ok = requests.get(f"{reg.url}/v2/m/app/manifests/v1", headers={"Accept": f"{DOCKER}, {OCI}"})
    assert ok.headers["Docker-Content-Digest"] == image.digest


def test_tags_of_repository_with_all_tags_deleted_is_null(fake_registry):
    image = fake_registry.push_image("m/app", "v1")
    requests.delete(f"{fake_registry.url}/v2/m/app/manifests/{image.digest}")
    assert requests.get(f"{fake_registry.url}/v2/m/app/tags/list").json() == {"name": "m/app", "tags": None}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_get_or_head_of_an_invalid_tag_is_manifest_unknown(fake_registry, method):
    # the conformance suite's nonexistent manifest is ".INVALID_MANIFEST_NAME"
    fake_registry.push_image("m/app", "v1")
    r = requests.request(method, f"{fake_registry.url}/v2/m/app/manifests/.INVALID_MANIFEST_NAME")
    assert r.status_code == 404
    if method == "GET":
        assert r.json() == {
            "errors": [
                {
                    "code": "MANIFEST_UNKNOWN",
                    "message": "manifest unknown",
                    "detail": {"Tag": ".INVALID_MANIFEST_NAME"},
                }
            ]
        }


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def test_an_index_of_an_image_all_by_sha512_digests(fake_registry):
    # the conformance suite's sha512 data: blobs, manifest and index all addressed by sha512
    url = fake_registry.url
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"x" * 3000
    for blob in (config, layer):
        half = len(blob) // 2
        location = requests.post(f"{url}/v2/m/app/blobs/uploads/").headers["Location"]
        r = requests.patch(location, data=blob[:half], headers={"Content-Range": f"0-{half - 1}"})
        r = requests.put(
            r.headers["Location"],
            params={"digest": sha512(blob)},
            data=blob[half:],
            headers={"Content-Range": f"{half}-{len(blob) - 1}"},
        )
        assert (r.status_code, r.headers["Docker-Content-Digest"]) == (201, sha512(blob))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha512(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha512(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI, "digest": sha512(manifest), "size": len(manifest)}],
        }
    ).encode()
    for body, media_type in ((manifest, OCI), (index, OCI_INDEX)):
        r = requests.put(
            f"{url}/v2/m/app/manifests/{sha512(body)}", data=body, headers={"Content-Type": media_type}
        )
        assert (r.status_code, r.headers["Docker-Content-Digest"]) == (201, sha512(body))
    r = requests.get(f"{url}/v2/m/app/manifests/{sha512(index)}")
    assert (r.status_code, r.headers["Docker-Content-Digest"], r.content) == (200, sha512(index), index)


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_push_by_digest_with_tag_parameters_creates_each_tag(fake_registry, algorithm):
    # the conformance suite's tag-param data: a sha512 manifest can be tagged no other way
    image = build_image([{"a": b"1"}])
    push_blobs(fake_registry, "m/app", image)
    digest = f"{algorithm}:" + hashlib.new(algorithm, image.manifest).hexdigest()
    r = requests.put(
        f"{fake_registry.url}/v2/m/app/manifests/{digest}?tag=v1&tag=latest&tag=v1",
        data=image.manifest,
        headers={"Content-Type": OCI},
    )
    assert (r.status_code, r.headers["Docker-Content-Digest"]) == (201, digest)
    assert r.raw.headers.getlist("OCI-Tag") == ["v1", "latest"]
    tags = requests.get(f"{fake_registry.url}/v2/m/app/tags/list").json()
    assert tags == {"name": "m/app", "tags": ["latest", "v1"]}
    for method in ("GET", "HEAD"):
        got = requests.request(method, f"{fake_registry.url}/v2/m/app/manifests/latest")
        assert (got.status_code, got.headers["Docker-Content-Digest"]) == (200, digest)


def test_push_by_tag_ignores_tag_parameters(fake_registry):
    image = build_image([{"a": b"1"}])
    push_blobs(fake_registry, "m/app", image)
    r = requests.put(
        f"{fake_registry.url}/v2/m/app/manifests/v1?tag=other",
        data=image.manifest,
        headers={"Content-Type": OCI},
    )
    assert r.status_code == 201
    assert "OCI-Tag" not in r.headers
    assert requests.get(f"{fake_registry.url}/v2/m/app/tags/list").json() == {"name": "m/app", "tags": ["v1"]}


def test_invalid_tag_parameter_is_tag_invalid_and_stores_nothing(fake_registry):
    image = build_image([{"a": b"1"}])
    push_blobs(fake_registry, "m/app", image)
    r = requests.put(
        f"{fake_registry.url}/v2/m/app/manifests/{image.digest}?tag=ok&tag=-bad",
        data=image.manifest,
        headers={"Content-Type": OCI},
    )
    assert r.status_code == 400
    assert r.json() == {
        "errors": [
            {"code": "TAG_INVALID", "message": "manifest tag did not match URI", "detail": {"Tag": "-bad"}}
        ]
    }
    assert requests.head(f"{fake_registry.url}/v2/m/app/manifests/{image.digest}").status_code == 404
    assert requests.get(f"{fake_registry.url}/v2/m/app/tags/list").json() == {"name": "m/app", "tags": None}
