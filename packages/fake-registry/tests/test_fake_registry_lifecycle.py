"""Life cycle: start, stop with clients still connected, nothing left behind."""

import socket
import threading
import time
from pathlib import Path

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


def refused(port: int) -> bool:
    """Whether nothing listens on the loopback port any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def closed_by_peer(conn: socket.socket) -> bool:
    """Whether the other end closed ``conn`` (EOF, or a reset for an unaccepted connection)."""
    conn.settimeout(5)
    try:
        return conn.recv(4096) == b""
    except ConnectionResetError:
        return True


def test_stop_twice_is_harmless():
    reg = FakeRegistry(tls=True, proxy=True).start()
    ca_file, port, proxy_port = reg.ca_file, reg.port, reg.proxy._server.server_address[1]
    reg.stop()
    assert reg.stop() is None  # the second stop neither raises nor blocks
    assert (refused(port), refused(proxy_port), ca_file.exists()) == (True, True, False)


def test_stop_during_an_upload_closes_it_and_leaves_nothing_behind():
    before = {t.ident for t in threading.enumerate()}
    reg = FakeRegistry().start()
    spill_dir = Path(reg.storage._tmp.name)
    with requests.Session() as session:
        location = session.post(f"{reg.url}/v2/l/app/blobs/uploads/").headers["Location"]
    path = location.split(reg.host, 1)[1]
    raw = socket.create_connection(("127.0.0.1", reg.port))
    try:
        raw.sendall(
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n".encode() + b"x" * 1000
        )
        started = time.monotonic()
        reg.stop()
        assert time.monotonic() - started < 5  # stop does not wait for the rest of the body
        assert closed_by_peer(raw)
    finally:
        raw.close()
    assert (refused(reg.port), spill_dir.exists()) == (True, False)  # no socket, no upload file
    assert wait_until(lambda: {t.ident for t in threading.enumerate()} <= before)
