"""Bad input never crashes the server: garbage on the wire, broken bodies, hostile names."""

import socket

import pytest
import requests

GARBAGE = [
    b"\x00\x01\x02\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /v2/ HTTP/9.9\r\n\r\n",
    b"GET /v2/ HTTP/1.1\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n",
    b"GET /v2/ HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(200)) + b"\r\n",
    b"PUT /v2/a/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"PUT /v2/a/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"PATCH /v2/a/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"PUT /v2/a/manifests/v1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    b"BREW /v2/ HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v2/a/blobs/sha256:" + b"0" * 64 + b" HTTP/1.1\r\nHost: x\r\nRange: bytes=zz\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello to a plain port
]


@pytest.mark.parametrize("payload", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_never_stops_the_server(fake_registry, payload):
    with socket.create_connection(("127.0.0.1", fake_registry.port), timeout=5) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
    assert requests.get(f"{fake_registry.url}/v2/").status_code == 200


def test_chunked_upload_with_bad_chunk_keeps_no_blob(fake_registry):
    location = requests.post(f"{fake_registry.url}/v2/r/app/blobs/uploads/").headers["Location"]
    path = location.split(fake_registry.host, 1)[1]
    with socket.create_connection(("127.0.0.1", fake_registry.port), timeout=5) as s:
        s.sendall(
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nnothex\r\n".encode()
        )
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    assert fake_registry.repositories() == []
    assert requests.get(f"{fake_registry.url}/v2/").status_code == 200


def test_plain_http_to_tls_port(fake_registry_factory):
    reg = fake_registry_factory(tls=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://{reg.host}/v2/", timeout=5)
    assert requests.get(f"{reg.url}/v2/", verify=str(reg.ca_file)).status_code == 200


def test_tls_client_that_hangs_up_mid_handshake(fake_registry_factory):
    reg = fake_registry_factory(tls=True)
    with socket.create_connection(("127.0.0.1", reg.port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello
    assert requests.get(f"{reg.url}/v2/", verify=str(reg.ca_file)).status_code == 200


def test_client_vanishing_mid_download(fake_registry):
    digest = fake_registry.push_blob("r/app", b"x" * (8 << 20))
    with socket.create_connection(("127.0.0.1", fake_registry.port), timeout=5) as s:
        s.sendall(f"GET /v2/r/app/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.recv(1024)
    assert requests.head(f"{fake_registry.url}/v2/r/app/blobs/{digest}").status_code == 200


def test_sha512_digests(fake_registry):
    import hashlib

    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    location = requests.post(f"{fake_registry.url}/v2/r/app/blobs/uploads/").headers["Location"]
    r = requests.put(location, params={"digest": digest}, data=data)
    assert (r.status_code, r.headers["Docker-Content-Digest"]) == (201, digest)
    assert requests.get(f"{fake_registry.url}/v2/r/app/blobs/{digest}").content == data


def test_ipv6_loopback(fake_registry_factory):
    reg = fake_registry_factory(host="::1")
    assert reg.url.startswith("http://[::1]:")
    assert requests.get(f"{reg.url}/v2/").status_code == 200


def exchange(port: int, payload: bytes) -> bytes:
    """Send ``payload`` and read the whole answer, up to the server's close."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def status_line_and_body(answer: bytes) -> tuple[bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


@pytest.mark.parametrize(
    "payload",
    [b"\x00\x01\x02\r\n\r\n", b"GARBAGE\r\n\r\n", b"GET /v2/\r\n", b"GET /v2/ HTTP/1.1 extra\r\n\r\n"],
    ids=["binary", "one-word", "http-0.9", "four-words"],
)
def test_unparseable_request_gets_a_400_with_a_status_line(fake_registry, payload):
    answer = exchange(fake_registry.port, payload)
    assert status_line_and_body(answer) == (b"HTTP/1.1 400 Bad Request", b"400 Bad Request\n")
    assert b"\r\nConnection: close\r\n" in answer


def test_tls_client_hello_on_the_plain_port_gets_an_http_400_at_once(fake_registry):
    # Docker's HTTPS-then-HTTP probe: the hello has no newline, and the answer must start "HTTP/".
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64
    answer = exchange(fake_registry.port, hello)
    assert status_line_and_body(answer) == (b"HTTP/1.1 400 Bad Request", b"400 Bad Request\n")


def test_python_tls_client_on_the_plain_port_reads_an_http_answer(fake_registry):
    import ssl

    with (
        socket.create_connection(("127.0.0.1", fake_registry.port), timeout=5) as raw,
        pytest.raises(ssl.SSLError, match="WRONG_VERSION_NUMBER"),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
