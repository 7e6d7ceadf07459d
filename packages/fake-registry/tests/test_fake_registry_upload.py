"""Pushing built images to a registry over HTTP (any registry), and writing OCI layouts."""

import json

import pytest

from fake_registry import ImageConfig, UploadError, build_image, build_index, upload, write_oci_layout

IMAGE = build_image([{"a": b"1"}])
INDEX = build_index([IMAGE, build_image([{"a": b"2"}], ImageConfig(architecture="arm64"))])


def test_upload_image_with_tags(fake_registry):
    assert upload(IMAGE, fake_registry.url, "u/app", "v1", "latest") == IMAGE.digest
    assert fake_registry.tags("u/app") == ["latest", "v1"]
    assert fake_registry.manifest("u/app", "v1").body == IMAGE.manifest
    assert fake_registry.requests.summary()[:3] == [
        f"HEAD /v2/u/app/blobs/{IMAGE.config_digest} 404",
        "POST /v2/u/app/blobs/uploads/ 202",
        f"PUT /v2/u/app/blobs/uploads/{fake_registry.requests[2].path.rsplit('/', 1)[1]} 201",
    ]


def test_upload_skips_existing_blobs(fake_registry):
    upload(IMAGE, fake_registry.url, "u/app")
    fake_registry.requests.clear()
    upload(IMAGE, fake_registry.url, "u/app", "again")
    assert [r.method for r in fake_registry.requests] == ["HEAD", "HEAD", "PUT", "PUT"]


def test_upload_index(fake_registry):
    upload(INDEX, fake_registry.url, "u/multi", "v1")
    assert fake_registry.manifest("u/multi", "v1").digest == INDEX.digest


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_upload_with_auth_and_tls(fake_registry_factory, auth):
    reg = fake_registry_factory(users=["u:p"], auth=auth, tls=True)
    upload(IMAGE, reg.url, "u/app", "v1", username="u", password="p", ca_file=reg.ca_file)
    assert reg.tags("u/app") == ["v1"]


def test_upload_with_wrong_password_fails(fake_registry_factory):
    reg = fake_registry_factory(users=["u:p"])
    with pytest.raises(UploadError, match="HTTP 401"):
        upload(IMAGE, reg.url, "u/app", "v1", username="u", password="nope")


def test_write_oci_layout(tmp_path):
    root = write_oci_layout(INDEX, tmp_path / "layout", tag="v1")
    index = json.loads((root / "index.json").read_text())
    assert index["manifests"] == [
        {
            "mediaType": INDEX.media_type,
            "digest": INDEX.digest,
            "size": len(INDEX.manifest),
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }
    ]
    names = sorted(p.name for p in (root / "blobs" / "sha256").iterdir())
    expected = {INDEX.digest, *(c.digest for c in INDEX.children)}
    for child in INDEX.children:
        expected |= set(child.blobs())
    assert names == sorted(d.split(":")[1] for d in expected)
    assert (root / "oci-layout").read_text() == '{"imageLayoutVersion":"1.0.0"}'
