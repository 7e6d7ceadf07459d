"""The download pipeline: bounded concurrency, reading while arriving, errors reaching the reader."""

from __future__ import annotations

import io
import os
import threading
import time

import pytest

from registry_image_resource.commands.get.downloads import Downloads, Wanted, write_at
from registry_image_resource.errors import IntegrityError


class GatedBlob(io.RawIOBase):
    """A blob whose bytes are released chunk by chunk by the test (``gate``)."""

    def __init__(self, owner: FakeClient, digest: str, data: bytes) -> None:
        self.owner = owner
        self.digest = digest
        self.data = data
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.position >= len(self.data):
            if self.digest in self.owner.fail:
                raise IntegrityError(f"blob {self.digest}: content has digest sha256:bad")
            return 0
        self.owner.gates[self.digest].wait(timeout=10)
        step = min(len(buffer), 1000, len(self.data) - self.position)
        buffer[:step] = self.data[self.position : self.position + step]
        self.position += step
        return step

    def close(self) -> None:
        with self.owner.lock:
            if not self.closed:
                self.owner.open_now -= 1
        super().close()


class FakeClient:
    def __init__(self, blobs: dict[str, bytes], *, open_gates: bool = True) -> None:
        self.blobs = blobs
        self.gates = {d: threading.Event() for d in blobs}
        if open_gates:
            for gate in self.gates.values():
                gate.set()
        self.lock = threading.Lock()
        self.open_now = 0
        self.most_open = 0
        self.opened: list[str] = []
        self.fail: set[str] = set()

    def open_blob(self, digest: str, size: int | None = None, offset: int = 0) -> GatedBlob:
        with self.lock:
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
            self.opened.append(digest)
        return GatedBlob(self, digest, self.blobs[digest])


def read_all(stream) -> bytes:
    out = bytearray()
    buffer = bytearray(4096)
    while count := stream.readinto(buffer):
        out += buffer[:count]
    return bytes(out)


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def test_at_most_four_downloads_at_once_and_all_arrive_intact(tmp_path):
    blobs = {f"sha256:{i}": os.urandom(5000 + i) for i in range(9)}
    client = FakeClient(blobs, open_gates=False)
    with Downloads(client, tmp_path) as downloads:
        pending = downloads.start(Wanted(d, len(b)) for d, b in blobs.items())
        wait_until(lambda: len(client.opened) == 4)
        # The first four are held open by their gates: the pool has no fifth worker to start another.
        assert client.opened == list(blobs)[:4]
        for gate in client.gates.values():
            gate.set()
        assert [read_all(p.open()) for p in pending] == list(blobs.values())
        for download in pending:
            download.result()
    assert client.most_open == 4
    assert client.opened == list(blobs)
    assert os.listdir(tmp_path) == []  # anonymous files: nothing to clean up


def test_the_first_blob_is_readable_before_it_has_fully_arrived(tmp_path):
    data = os.urandom(3000)
    client = FakeClient({"sha256:a": data}, open_gates=False)
    with Downloads(client, tmp_path) as downloads:
        (download,) = downloads.start([Wanted("sha256:a", len(data))])
        stream = download.open()
        client.gates["sha256:a"].set()
        first = bytearray(10)
        assert stream.readinto(first) == 10
        assert bytes(first) == data[:10]
        assert read_all(stream) == data[10:]


def test_a_failed_download_fails_its_reader_with_the_download_error(tmp_path):
    client = FakeClient({"sha256:ok": b"x" * 100, "sha256:bad": b"y" * 100})
    client.fail.add("sha256:bad")
    with Downloads(client, tmp_path) as downloads:
        ok, bad = downloads.start([Wanted("sha256:ok", 100), Wanted("sha256:bad", 100)])
        assert read_all(ok.open()) == b"x" * 100
        with pytest.raises(IntegrityError) as err:
            read_all(bad.open())
        assert str(err.value) == "blob sha256:bad: content has digest sha256:bad"


def test_leaving_early_cancels_what_is_still_running_and_stops_every_thread(tmp_path):
    client = FakeClient({"sha256:slow": b"z" * 500_000, "sha256:queued": b"q"}, open_gates=False)
    with Downloads(client, tmp_path, concurrency=1) as downloads:
        slow, _queued = downloads.start([Wanted("sha256:slow", 500_000), Wanted("sha256:queued", 1)])
        wait_until(lambda: client.opened == ["sha256:slow"])
        cancel = slow.cancel

        def cancel_then_release() -> None:
            cancel()
            client.gates["sha256:slow"].set()  # the worker goes on only once cancelled

        slow.cancel = cancel_then_release  # type: ignore[method-assign]
    assert str(slow.failure()) == "download of sha256:slow cancelled"
    assert client.opened == ["sha256:slow"]  # the queued one never started
    assert client.open_now == 0
    assert [t.name for t in threading.enumerate() if t.name.startswith("download")] == []


def test_write_at_places_blobs_at_their_offsets(tmp_path):
    blobs = {"sha256:a": b"A" * 700, "sha256:b": b"B" * 300, "sha256:c": b"C" * 5}
    client = FakeClient(blobs)
    path = tmp_path / "out"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        write_at(
            client,
            fd,
            [(Wanted("sha256:a", 700), 0), (Wanted("sha256:b", 300), 1024), (Wanted("sha256:c", 5), 2048)],
        )
    finally:
        os.close(fd)
    data = path.read_bytes()
    assert data[:700] == b"A" * 700
    assert data[1024:1324] == b"B" * 300
    assert data[2048:2053] == b"C" * 5
