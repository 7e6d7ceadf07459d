"""Uploads in every style the spec allows, cross-repository mounts, and failed uploads."""

import hashlib
import time

import pytest
import requests

from fake_registry import FakeRegistry

DATA = b"hello upload world"
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def start(reg: FakeRegistry, repo: str = "up/app") -> requests.Response:
    r = requests.post(f"{reg.url}/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    return r


def test_post_answers_202_with_location_range_and_uuid(fake_registry):
    r = start(fake_registry)
    uuid = r.headers["Docker-Upload-Uuid"]
    assert r.headers["Location"] == f"{fake_registry.url}/v2/up/app/blobs/uploads/{uuid}"
    assert r.headers["Range"] == "0-0"
    assert r.headers["Content-Length"] == "0"


def test_monolithic_post_then_put(fake_registry):
    location = start(fake_registry).headers["Location"]
    r = requests.put(location, params={"digest": DIGEST}, data=DATA)
    assert r.status_code == 201
    assert r.headers["Location"] == f"{fake_registry.url}/v2/up/app/blobs/{DIGEST}"
    assert r.headers["Docker-Content-Digest"] == DIGEST
    assert fake_registry.blob("up/app", DIGEST) == DATA


def test_single_post_with_digest(fake_registry):
    r = requests.post(f"{fake_registry.url}/v2/up/app/blobs/uploads/", params={"digest": DIGEST}, data=DATA)
    assert r.status_code == 201
    assert fake_registry.blob("up/app", DIGEST) == DATA


def test_post_patch_put(fake_registry):
    location = start(fake_registry).headers["Location"]
    r = requests.patch(location, data=DATA, headers={"Content-Type": "application/octet-stream"})
    assert (r.status_code, r.headers["Range"]) == (202, f"0-{len(DATA) - 1}")
    r = requests.put(r.headers["Location"], params={"digest": DIGEST})
    assert r.status_code == 201
    assert fake_registry.blob("up/app", DIGEST) == DATA


def test_chunked_patches_with_content_range(fake_registry):
    location = start(fake_registry).headers["Location"]
    r = requests.patch(location, data=DATA[:5], headers={"Content-Range": "0-4"})
    assert r.headers["Range"] == "0-4"
    r = requests.patch(r.headers["Location"], data=DATA[5:], headers={"Content-Range": f"5-{len(DATA) - 1}"})
    assert r.headers["Range"] == f"0-{len(DATA) - 1}"
    assert requests.put(r.headers["Location"], params={"digest": DIGEST}).status_code == 201
    assert fake_registry.blob("up/app", DIGEST) == DATA


def test_streamed_chunked_transfer_encoding(fake_registry):
    location = start(fake_registry).headers["Location"]
    r = requests.patch(location, data=iter([DATA[:3], DATA[3:]]))
    assert r.status_code == 202
    assert requests.put(r.headers["Location"], params={"digest": DIGEST}).status_code == 201


def test_out_of_order_chunk_is_416(fake_registry):
    location = start(fake_registry).headers["Location"]
    r = requests.patch(location, data=DATA[5:], headers={"Content-Range": "5-17"})
    assert r.status_code == 416
    assert r.json()["errors"][0]["code"] == "RANGE_INVALID"


def test_upload_status(fake_registry):
    location = start(fake_registry).headers["Location"]
    requests.patch(location, data=DATA[:7])
    r = requests.get(location)
    assert (r.status_code, r.headers["Range"]) == (204, "0-6")


def test_cancel_upload(fake_registry):
    location = start(fake_registry).headers["Location"]
    assert requests.delete(location).status_code == 204
    r = requests.get(location)
    assert r.status_code == 404
    assert r.json() == {
        "errors": [{"code": "BLOB_UPLOAD_UNKNOWN", "message": "blob upload unknown to registry"}]
    }


def test_unknown_upload_id(fake_registry):
    r = requests.put(
        f"{fake_registry.url}/v2/up/app/blobs/uploads/nope", params={"digest": DIGEST}, data=DATA
    )
    assert (r.status_code, r.json()["errors"][0]["code"]) == (404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_id_of_another_repository_is_unknown(fake_registry):
    uuid = start(fake_registry).headers["Docker-Upload-Uuid"]
    r = requests.get(f"{fake_registry.url}/v2/up/other/blobs/uploads/{uuid}")
    assert r.status_code == 404


def test_digest_mismatch_is_digest_invalid_and_leaves_nothing(fake_registry):
    location = start(fake_registry).headers["Location"]
    wrong = "sha256:" + "1" * 64
    r = requests.put(location, params={"digest": wrong}, data=DATA)
    assert r.status_code == 400
    assert r.json()["errors"][0] == {
        "code": "DIGEST_INVALID",
        "message": "provided digest did not match uploaded content",
        "detail": {"Digest": wrong, "Reason": {}},
    }
    assert not fake_registry.has_blob("up/app", wrong)
    assert not fake_registry.has_blob("up/app", DIGEST)
    # the session survives, without the failed PUT's body
    assert requests.get(location).headers["Range"] == "0-0"


def test_put_without_digest_is_digest_invalid(fake_registry):
    location = start(fake_registry).headers["Location"]
    r = requests.put(location, data=DATA)
    assert (r.status_code, r.json()["errors"][0]["code"]) == (400, "DIGEST_INVALID")


def test_cross_repository_mount(fake_registry):
    fake_registry.push_blob("up/source", DATA)
    r = requests.post(
        f"{fake_registry.url}/v2/up/target/blobs/uploads/", params={"mount": DIGEST, "from": "up/source"}
    )
    assert r.status_code == 201
    assert r.headers["Location"] == f"{fake_registry.url}/v2/up/target/blobs/{DIGEST}"
    assert r.headers["Docker-Content-Digest"] == DIGEST
    assert fake_registry.blob("up/target", DIGEST) == DATA


@pytest.mark.parametrize("source", ["up/nothing", "UPPER/case"])
def test_mount_of_missing_blob_starts_an_upload(fake_registry, source):
    r = requests.post(
        f"{fake_registry.url}/v2/up/target/blobs/uploads/", params={"mount": DIGEST, "from": source}
    )
    assert r.status_code == 202
    assert "Docker-Upload-Uuid" in r.headers


def test_interrupted_upload_leaves_no_blob(fake_registry):
    import socket

    location = start(fake_registry).headers["Location"]
    path = location.split(fake_registry.host, 1)[1]
    with socket.create_connection(("127.0.0.1", fake_registry.port)) as s:
        s.sendall(
            f"PUT {path}?digest={DIGEST} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(DATA)}\r\n\r\n".encode()
            + DATA[:4]
        )
    r = requests.get(f"{fake_registry.url}/v2/up/app/blobs/{DIGEST}")
    assert r.status_code == 404


def test_post_with_digest_but_no_body_starts_a_session(fake_registry):
    r = requests.post(f"{fake_registry.url}/v2/up/app/blobs/uploads/", params={"digest": DIGEST})
    assert r.status_code == 202
    assert requests.put(r.headers["Location"], params={"digest": DIGEST}, data=DATA).status_code == 201


def test_put_with_an_out_of_order_final_chunk_is_416_and_keeps_the_session(fake_registry):
    location = start(fake_registry).headers["Location"]
    r = requests.patch(location, data=DATA[:5], headers={"Content-Range": "0-4"})
    assert (r.status_code, r.headers["Range"]) == (202, "0-4")
    r = requests.put(
        r.headers["Location"],
        params={"digest": DIGEST},
        data=DATA[10:],
        headers={"Content-Range": f"10-{len(DATA) - 1}"},
    )
    assert (r.status_code, r.json()["errors"][0]["code"], r.headers["Range"]) == (416, "RANGE_INVALID", "0-4")
    assert r.headers["Location"] == location
    r = requests.put(
        location, params={"digest": DIGEST}, data=DATA[5:], headers={"Content-Range": f"5-{len(DATA) - 1}"}
    )
    assert r.status_code == 201
    assert fake_registry.blob("up/app", DIGEST) == DATA


def test_an_upload_session_expires_after_upload_timeout(fake_registry_factory):
    reg = fake_registry_factory(upload_timeout=0.2)
    location = start(reg).headers["Location"]
    assert requests.get(location).status_code == 204
    deadline = time.monotonic() + 10
    while (r := requests.get(location)).status_code == 204 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (r.status_code, r.json()["errors"][0]["code"]) == (404, "BLOB_UPLOAD_UNKNOWN")
    assert requests.put(location, params={"digest": DIGEST}, data=DATA).status_code == 404
    assert list(reg.storage._upload_dir.iterdir()) == []


def test_upload_sessions_last_a_week_by_default(fake_registry):
    assert fake_registry.storage.upload_timeout == 7 * 24 * 3600
