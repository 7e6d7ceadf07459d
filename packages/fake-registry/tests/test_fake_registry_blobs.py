"""Blobs: GET (whole and ranges), HEAD, DELETE, and the errors for unknown or invalid digests."""

import hashlib

import pytest
import requests

from fake_registry import FakeRegistry

DATA = b"0123456789abcdef"
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def reg(fake_registry: FakeRegistry) -> FakeRegistry:
    fake_registry.push_blob("lib/app", DATA)
    return fake_registry


def test_get_blob_returns_content_and_headers(reg):
    r = requests.get(f"{reg.url}/v2/lib/app/blobs/{DIGEST}")
    assert r.status_code == 200
    assert r.content == DATA
    assert r.headers["Docker-Content-Digest"] == DIGEST
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Length"] == "16"
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_head_blob_has_length_and_no_body(reg):
    r = requests.head(f"{reg.url}/v2/lib/app/blobs/{DIGEST}")
    assert (r.status_code, r.headers["Content-Length"], r.content) == (200, "16", b"")
    assert r.headers["Docker-Content-Digest"] == DIGEST


@pytest.mark.parametrize(
    ("range_header", "content", "content_range"),
    [
        ("bytes=2-5", b"2345", "bytes 2-5/16"),
        ("bytes=10-", b"abcdef", "bytes 10-15/16"),
        ("bytes=-3", b"def", "bytes 13-15/16"),
        ("bytes=14-100", b"ef", "bytes 14-15/16"),
    ],
)
def test_range_requests_answer_206(reg, range_header, content, content_range):
    r = requests.get(f"{reg.url}/v2/lib/app/blobs/{DIGEST}", headers={"Range": range_header})
    assert (r.status_code, r.content, r.headers["Content-Range"]) == (206, content, content_range)


def test_unsatisfiable_range_answers_416(reg):
    r = requests.get(f"{reg.url}/v2/lib/app/blobs/{DIGEST}", headers={"Range": "bytes=16-20"})
    assert (r.status_code, r.headers["Content-Range"]) == (416, "bytes */16")


def test_unknown_blob_is_blob_unknown(reg):
    other = "sha256:" + "0" * 64
    r = requests.get(f"{reg.url}/v2/lib/app/blobs/{other}")
    assert r.status_code == 404
    assert r.json() == {
        "errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": other}]
    }


def test_blob_is_scoped_to_its_repository(reg):
    assert requests.head(f"{reg.url}/v2/lib/other/blobs/{DIGEST}").status_code == 404


def test_invalid_digest_is_digest_invalid(reg):
    r = requests.get(f"{reg.url}/v2/lib/app/blobs/sha256:zz")
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_delete_blob_unlinks_it(reg):
    assert requests.delete(f"{reg.url}/v2/lib/app/blobs/{DIGEST}").status_code == 202
    assert requests.head(f"{reg.url}/v2/lib/app/blobs/{DIGEST}").status_code == 404
    assert requests.delete(f"{reg.url}/v2/lib/app/blobs/{DIGEST}").status_code == 404


def test_large_blob_streams_from_disk(fake_registry):
    data = bytes(range(256)) * (40 << 12)  # 40 MiB: above the in-memory threshold
    digest = fake_registry.push_blob("big", data)
    r = requests.get(f"{fake_registry.url}/v2/big/blobs/{digest}", stream=True)
    h = hashlib.sha256()
    for chunk in r.iter_content(1 << 20):
        h.update(chunk)
    assert "sha256:" + h.hexdigest() == digest
