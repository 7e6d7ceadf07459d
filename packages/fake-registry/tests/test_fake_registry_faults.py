"""Faults on demand (status, reset, drop, corrupt, latency, quirks) and the request log."""

import hashlib
import socket

import pytest
import requests

from fake_registry import Fault

DATA = bytes(range(256)) * 64
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def reg(fake_registry):
    fake_registry.push_blob("f/app", DATA)
    fake_registry.push_image("f/app", "v1")
    fake_registry.requests.clear()
    return fake_registry


def test_429_with_retry_after_then_normal(reg):
    reg.faults.status(429, r"/blobs/", retry_after=3)
    r = requests.get(f"{reg.url}/v2/f/app/blobs/{DIGEST}")
    assert (r.status_code, r.headers["Retry-After"]) == (429, "3")
    assert r.json() == {"errors": [{"code": "TOOMANYREQUESTS", "message": "too many requests"}]}
    assert requests.get(f"{reg.url}/v2/f/app/blobs/{DIGEST}").status_code == 200


def test_503_twice_counts_hits(reg):
    fault = reg.faults.status(503, r"/manifests/v1$", method="HEAD", times=2)
    statuses = [requests.head(f"{reg.url}/v2/f/app/manifests/v1").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert requests.get(f"{reg.url}/v2/f/app/manifests/v1").status_code == 200
    assert reg.faults.hits(fault) == 2
    assert reg.faults.pending() == []


def test_500_is_unknown_error(reg):
    reg.faults.status(500)
    r = requests.get(f"{reg.url}/v2/")
    assert (r.status_code, r.json()["errors"][0]["code"]) == (500, "UNKNOWN")


def test_times_none_applies_until_cleared(reg):
    reg.faults.status(503, "/v2/$", times=None)
    assert [requests.get(f"{reg.url}/v2/").status_code for _ in range(3)] == [503, 503, 503]
    reg.faults.clear()
    assert requests.get(f"{reg.url}/v2/").status_code == 200


def test_reset_closes_without_answer(reg):
    reg.faults.reset("/v2/")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{reg.url}/v2/")
    assert reg.requests.summary() == ["GET /v2/ 0"]


def test_drop_after_n_bytes_truncates_body(reg):
    reg.faults.drop(100, r"/blobs/")
    with socket.create_connection(("127.0.0.1", reg.port)) as s:
        s.sendall(f"GET /v2/f/app/blobs/{DIGEST} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Content-Length: 16384" in head
    assert body == DATA[:100]


def test_drop_makes_clients_fail_and_range_resumes(reg):
    reg.faults.drop(1000, r"/blobs/")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{reg.url}/v2/f/app/blobs/{DIGEST}").content  # noqa: B018
    rest = requests.get(f"{reg.url}/v2/f/app/blobs/{DIGEST}", headers={"Range": "bytes=1000-"})
    assert DATA[:1000] + rest.content == DATA


def test_corrupt_flips_one_byte(reg):
    reg.faults.corrupt(5000, r"/blobs/")
    got = requests.get(f"{reg.url}/v2/f/app/blobs/{DIGEST}").content
    assert len(got) == len(DATA)
    assert [i for i in range(len(DATA)) if got[i] != DATA[i]] == [5000]
    assert got[5000] == DATA[5000] ^ 0xFF


def test_latency_is_applied_and_logged(reg):
    fault = reg.faults.latency(0.01, "/v2/")
    assert requests.get(f"{reg.url}/v2/").status_code == 200
    assert reg.faults.hits(fault) == 1


def test_quirk_head_without_digest_header(reg):
    reg.faults.quirk("no_digest_header", method="HEAD", path="/manifests/")
    head = requests.head(f"{reg.url}/v2/f/app/manifests/v1")
    assert head.status_code == 200
    assert "Docker-Content-Digest" not in head.headers
    assert "Docker-Content-Digest" in requests.get(f"{reg.url}/v2/f/app/manifests/v1").headers


def test_quirk_manifest_without_content_type(reg):
    reg.faults.quirk("no_content_type", path="/manifests/")
    assert "Content-Type" not in requests.get(f"{reg.url}/v2/f/app/manifests/v1").headers


def test_quirk_no_range_support(reg):
    reg.faults.quirk("no_range", path="/blobs/")
    r = requests.get(f"{reg.url}/v2/f/app/blobs/{DIGEST}", headers={"Range": "bytes=10-"})
    assert (r.status_code, r.content) == (200, DATA)
    assert "Accept-Ranges" not in r.headers


def test_unknown_quirk_is_refused():
    with pytest.raises(ValueError, match="unknown quirks"):
        Fault(quirks=frozenset({"nope"}))


def test_request_log_records_method_path_query_status_and_masks_secrets(reg):
    requests.get(f"{reg.url}/v2/f/app/tags/list?n=1", headers={"Authorization": "Bearer s3cret"})
    requests.head(f"{reg.url}/v2/f/app/manifests/v9")
    first, _second = reg.requests.all()
    assert (first.method, first.path, first.query, first.status) == ("GET", "/v2/f/app/tags/list", "n=1", 200)
    assert first.header("Authorization") == "***"
    assert "s3cret" not in repr(reg.requests.all())
    assert reg.requests.summary() == ["GET /v2/f/app/tags/list 200", "HEAD /v2/f/app/manifests/v9 404"]
    assert [r.path for r in reg.requests.find("HEAD", "/manifests/")] == ["/v2/f/app/manifests/v9"]


def test_drop_request_cuts_an_upload_and_stores_nothing(reg):
    data = b"u" * 100_000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    fault = reg.faults.drop_request(1000, r"/blobs/uploads/.+", method="PUT")
    location = requests.post(f"{reg.url}/v2/f/new/blobs/uploads/").headers["Location"]
    with pytest.raises(requests.ConnectionError):
        requests.put(location, params={"digest": digest}, data=data)
    assert reg.faults.hits(fault) == 1
    assert not reg.has_blob("f/new", digest)
    # the session is untouched: the retry succeeds
    assert requests.get(location).headers["Range"] == "0-0"
    assert requests.put(location, params={"digest": digest}, data=data).status_code == 201
    assert reg.requests.summary()[-4:] == [
        "POST /v2/f/new/blobs/uploads/ 202",
        f"PUT {location.split(reg.host)[1]} 0",
        f"GET {location.split(reg.host)[1]} 204",
        f"PUT {location.split(reg.host)[1]} 201",
    ]


def test_a_fault_survives_its_json_form():
    fault = Fault(
        method="PATCH",
        path=r"/blobs/uploads/",
        times=None,
        status=503,
        retry_after=3,
        reset=True,
        drop_after=10,
        drop_request_after=20,
        corrupt_at=5,
        latency=0.25,
        quirks=frozenset({"no_range", "no_content_type"}),
    )
    assert Fault.from_json(fault.to_json()) == fault
    assert fault.to_json()["quirks"] == ["no_content_type", "no_range"]


def test_a_fault_from_json_takes_the_dataclass_defaults():
    assert Fault.from_json({"status": 429}) == Fault(status=429)
