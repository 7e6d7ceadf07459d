"""Life cycle: start, stop with clients still connected, nothing left behind."""

import socket
import threading
import time

import requests

from fake_registry import FakeRegistry


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_stop_closes_open_keep_alive_connections_and_threads():
    before = {t.ident for t in threading.enumerate()}
    reg = FakeRegistry().start()
    session = requests.Session()
    assert session.get(f"{reg.url}/v2/").status_code == 200  # a keep-alive connection stays open
    raw = socket.create_connection(("127.0.0.1", reg.port))
    raw.settimeout(5)
    raw.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while not answer.endswith(b"\r\n\r\n{}"):
        answer += raw.recv(4096)
    reg.stop()
    try:
        assert raw.recv(4096) == b""  # the server closed it
    finally:
        raw.close()
    session.close()
    assert wait_until(lambda: {t.ident for t in threading.enumerate()} <= before)


def test_port_is_free_after_stop():
    reg = FakeRegistry().start()
    port = reg.port
    reg.stop()
    with FakeRegistry(port=port) as again:
        assert requests.get(f"{again.url}/v2/").status_code == 200


def test_stop_twice_is_harmless():
    reg = FakeRegistry(tls=True, proxy=True).start()
    ca_file = reg.ca_file
    reg.stop()
    reg.stop()
    assert not ca_file.exists()


def test_stop_during_an_upload():
    reg = FakeRegistry().start()
    location = requests.post(f"{reg.url}/v2/l/app/blobs/uploads/").headers["Location"]
    path = location.split(reg.host, 1)[1]
    raw = socket.create_connection(("127.0.0.1", reg.port))
    raw.sendall(f"PATCH {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n".encode() + b"x" * 1000)
    reg.stop()
    raw.close()
