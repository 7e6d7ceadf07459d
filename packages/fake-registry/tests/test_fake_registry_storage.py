"""Storage: memory or directory, persistence across restarts, streaming, no partial blobs."""

import hashlib
import threading

import requests

from fake_registry import FakeRegistry


def test_directory_storage_survives_a_restart(tmp_path):
    with FakeRegistry(storage=tmp_path) as reg:
        image = reg.push_image("p/app", "v1", layers=[{"a": b"1"}])
    with FakeRegistry(storage=tmp_path) as reg:
        r = requests.get(f"{reg.url}/v2/p/app/manifests/v1")
        assert (r.status_code, r.content) == (200, image.manifest)
        assert reg.blob("p/app", image.layers[0].digest) == image.layers[0].data
        assert reg.tags("p/app") == ["v1"]


def test_directory_storage_layout(tmp_path):
    with FakeRegistry(storage=tmp_path) as reg:
        digest = reg.push_blob("p/app", b"abc")
    hexdigest = digest.split(":")[1]
    assert (tmp_path / "blobs" / "sha256" / hexdigest[:2] / hexdigest).read_bytes() == b"abc"
    assert (tmp_path / "repositories" / "p" / "app" / "_state.json").is_file()


def test_failed_uploads_leave_no_files(tmp_path):
    with FakeRegistry(storage=tmp_path) as reg:
        location = requests.post(f"{reg.url}/v2/p/app/blobs/uploads/").headers["Location"]
        requests.patch(location, data=b"partial")
        requests.put(location, params={"digest": "sha256:" + "0" * 64})
        requests.delete(location)
        assert list((tmp_path / "_uploads").iterdir()) == []
        assert list((tmp_path / "blobs").iterdir()) == []


def test_clear_forgets_everything(fake_registry):
    fake_registry.push_image("p/app", "v1")
    fake_registry.faults.status(500)
    fake_registry.clear()
    assert fake_registry.repositories() == []
    assert requests.get(f"{fake_registry.url}/v2/").status_code == 200


def test_concurrent_uploads_of_the_same_blob(fake_registry):
    data = b"x" * (1 << 20)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    results = []

    def push():
        s = requests.Session()
        loc = s.post(f"{fake_registry.url}/v2/p/app/blobs/uploads/").headers["Location"]
        results.append(s.put(loc, params={"digest": digest}, data=data).status_code)

    threads = [threading.Thread(target=push) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 8
    assert fake_registry.blob("p/app", digest) == data


def test_leftovers_of_a_crash_are_ignored_and_removed(tmp_path):
    with FakeRegistry(storage=tmp_path) as reg:
        digest = reg.push_blob("p/app", b"abc")
    hexdigest = digest.split(":")[1]
    leftover = tmp_path / "blobs" / "sha256" / hexdigest[:2] / f"{hexdigest}.1234.tmp"
    leftover.write_bytes(b"partial")
    (tmp_path / "_uploads" / "dead-upload").write_bytes(b"partial")
    with FakeRegistry(storage=tmp_path) as reg:
        assert reg.blob("p/app", digest) == b"abc"
    assert not leftover.exists()
    assert list((tmp_path / "_uploads").iterdir()) == []
