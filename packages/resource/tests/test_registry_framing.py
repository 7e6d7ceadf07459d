"""HTTP/1.1 framing (registry/_http/framing.py, on h11) over a real socket pair: what is sent, how answers are framed."""

from __future__ import annotations

import io
import socket
import threading

import pytest

from registry_image_resource.registry._http.framing import (
    Connection,
    Headers,
    IncompleteRead,
    ProtocolError,
    RemoteDisconnected,
    RequestRefused,
    open_tunnel,
)


@pytest.fixture
def pair():
    client, server = socket.socketpair()
    client.settimeout(5)
    server.settimeout(5)
    conn = Connection(client, 5.0)
    conn.start(float("inf"))
    yield conn, server
    conn.close()
    server.close()


def answer(server: socket.socket, data: bytes, *, close: bool = False) -> None:
    server.sendall(data)
    if close:
        server.shutdown(socket.SHUT_WR)


def received(server: socket.socket) -> bytes:
    """Everything the client sent until now (it has finished sending when this is called)."""
    server.setblocking(False)
    chunks = []
    try:
        while True:
            chunk = server.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except BlockingIOError:
        pass
    server.setblocking(True)
    return b"".join(chunks)


# --- sending -----------------------------------------------------------------------------------


def test_get_is_sent_with_host_and_headers_and_no_length(pair):
    conn, server = pair
    conn.send("GET", "/v2/", "registry:5000", {"Accept": "a/b"}, None, blocksize=1024)
    assert received(server) == b"GET /v2/ HTTP/1.1\r\nHost: registry:5000\r\nAccept: a/b\r\n\r\n"


def test_bytes_body_is_sent_with_its_length(pair):
    conn, server = pair
    conn.send("PUT", "/x", "h", {}, b"hello", blocksize=1024)
    assert received(server) == b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"


def test_empty_post_says_content_length_zero(pair):
    conn, server = pair
    conn.send("POST", "/v2/r/blobs/uploads/", "h", {}, None, blocksize=1024)
    assert received(server) == b"POST /v2/r/blobs/uploads/ HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"


def test_file_body_with_given_length_is_streamed_as_is(pair):
    conn, server = pair
    conn.send("PUT", "/b", "h", {"Content-Length": "6"}, io.BytesIO(b"abcdef"), blocksize=4)
    assert received(server) == b"PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nabcdef"


def test_file_body_without_length_is_sent_in_chunks(pair):
    conn, server = pair
    conn.send("PATCH", "/b", "h", {}, io.BytesIO(b"abcdef"), blocksize=4)
    assert received(server) == (
        b"PATCH /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n"
    )


def test_header_with_a_line_break_is_refused_before_sending(pair):
    conn, server = pair
    with pytest.raises(
        RequestRefused, match=r"^refusing to send an invalid GET request \(target or header\)$"
    ):
        conn.send("GET", "/", "h", {"X": "a\r\nInjected: yes"}, None, blocksize=1024)
    assert received(server) == b""


@pytest.mark.parametrize("target", ["/v2/a b", "/v2/a\x00b", "/v2/\u00e9", ""])
def test_invalid_request_target_is_refused_before_sending(pair, target):
    conn, server = pair
    with pytest.raises(RequestRefused):
        conn.send("GET", target, "h", {}, None, blocksize=1024)
    assert received(server) == b""


@pytest.mark.parametrize(("declared", "data"), [("3", b"abcdef"), ("9", b"abcdef")])
def test_streamed_body_must_match_its_declared_length(pair, declared, data):
    conn, _server = pair
    with pytest.raises(
        RequestRefused, match=r"^the request body does not match its declared Content-Length$"
    ):
        conn.send("PUT", "/b", "h", {"Content-Length": declared}, io.BytesIO(data), blocksize=4)


# --- receiving ---------------------------------------------------------------------------------


def exchange(
    conn: Connection, server: socket.socket, raw: bytes, method: str = "GET", *, close: bool = False
):
    """Send ``method /`` on ``conn``, answer it with ``raw``, and return what the client read."""
    conn.start(float("inf"))
    conn.send(method, "/", "h", {}, None, blocksize=1024)
    received(server)
    answer(server, raw, close=close)
    return conn.receive(method)


def test_content_length_body_and_connection_reusable(pair):
    conn, server = pair
    body = exchange(conn, server, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello")
    assert (body.status, body.reason, body.read(), body.complete, body.will_close) == (
        200,
        "OK",
        b"hello",
        True,
        False,
    )
    assert exchange(conn, server, b"HTTP/1.1 204 No Content\r\n\r\n").status == 204


def test_headers_are_case_insensitive_and_keep_repeats(pair):
    conn, server = pair
    body = exchange(conn, server, b"HTTP/1.1 200 OK\r\nLink: <a>\r\nlink: <b>\r\nContent-Length: 0\r\n\r\n")
    assert (body.headers["LINK"], body.headers.get_all("Link"), "link" in body.headers) == (
        "<a>",
        ["<a>", "<b>"],
        True,
    )


def test_headers_repr_shows_names_only():
    assert repr(Headers([("Authorization", "Bearer secret")])) == "Headers(['authorization'])"


def test_head_answer_has_no_body_despite_its_length(pair):
    conn, server = pair
    head = exchange(conn, server, b"HTTP/1.1 200 OK\r\nContent-Length: 457\r\n\r\n", "HEAD")
    assert (head.read(), head.complete, head.headers["Content-Length"]) == (b"", True, "457")
    assert exchange(conn, server, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").status == 404


def test_interim_100_continue_is_skipped(pair):
    conn, server = pair
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    assert exchange(conn, server, raw, "PUT").status == 201


def test_endless_interim_answers_are_refused(pair):
    conn, server = pair
    with pytest.raises(ProtocolError, match=r"^more than 16 interim \(1xx\) answers$"):
        exchange(conn, server, b"HTTP/1.1 100 Continue\r\n\r\n" * 17)


def test_switching_protocols_is_refused(pair):
    conn, server = pair
    with pytest.raises(ProtocolError, match=r"^unexpected 101 Switching Protocols answer$"):
        exchange(conn, server, b"HTTP/1.1 101 Switching Protocols\r\n\r\n")


def test_chunked_body_with_extensions_and_trailers(pair):
    conn, server = pair
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    body = exchange(conn, server, raw)
    assert (body.read(), body.complete, body.will_close) == (b"hello world", True, False)


def test_chunked_body_read_in_small_pieces(pair):
    conn, server = pair
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    body = exchange(conn, server, raw)
    pieces = []
    while piece := body.read(4):
        pieces.append(piece)
    assert b"".join(pieces) == b"hello world"
    assert all(len(p) <= 4 for p in pieces)
    assert body.complete


def test_body_without_length_lasts_until_close(pair):
    conn, server = pair
    body = exchange(conn, server, b"HTTP/1.1 200 OK\r\n\r\nall of it", close=True)
    assert (body.read(), body.complete, body.will_close) == (b"all of it", True, True)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
)
def test_connection_close_and_http10_are_not_reused(pair, raw):
    conn, server = pair
    body = exchange(conn, server, raw)
    body.read()
    assert body.will_close


def test_folded_header_joins_the_previous_value(pair):
    conn, server = pair
    body = exchange(
        conn, server, b'HTTP/1.1 200 OK\r\nLink: <a>;\r\n rel="next"\r\nContent-Length: 0\r\n\r\n'
    )
    assert body.headers["Link"] == '<a>; rel="next"'


def test_truncated_body_delivers_what_came_then_raises(pair):
    conn, server = pair
    body = exchange(conn, server, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", close=True)
    assert body.read(8) == b"hello"
    with pytest.raises(
        IncompleteRead, match=r"^connection closed before the end of the body \(5 bytes read\)$"
    ):
        body.read(8)
    assert not body.complete


def test_truncated_body_read_whole_raises(pair):
    conn, server = pair
    with pytest.raises(IncompleteRead):
        exchange(conn, server, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", close=True).read()


def test_truncated_chunked_body_raises(pair):
    conn, server = pair
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"
    with pytest.raises(IncompleteRead):
        exchange(conn, server, raw, close=True).read()


def test_closed_without_answer_is_remote_disconnected(pair):
    conn, server = pair
    with pytest.raises(RemoteDisconnected, match=r"^the server closed the connection without an answer$"):
        exchange(conn, server, b"", close=True)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "conflicting content-length headers",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad content-length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: \xd9\xa1\r\n\r\n", "bad content-length"),
        (b"HTTP/1.1 \xd9\xa100 OK\r\n\r\n", "illegal status line"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "illegal status line"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "illegal status line"),
        (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "illegal header line"),
        (b"HTTP/1.1 200 OK\r\nName : value\r\n\r\n", "illegal header line"),
        (b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", "illegal header line"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "a transfer-encoding other than chunked",
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "illegal chunk header"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 40 + b"\r\n",
            "illegal chunk header",
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "malformed chunk footer"),
    ],
)
def test_unframeable_answers_are_protocol_errors(pair, raw, message):
    conn, server = pair
    with pytest.raises(ProtocolError) as caught:
        exchange(conn, server, raw, close=True).read()
    assert str(caught.value) == f"malformed HTTP response: {message}"


def test_oversized_head_is_a_protocol_error(pair):
    conn, server = pair
    raw = b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 70000 + b"\r\n\r\n"
    writer = threading.Thread(target=answer, args=(server, raw))
    conn.start(float("inf"))
    conn.send("GET", "/", "h", {}, None, blocksize=1024)
    writer.start()
    with pytest.raises(
        ProtocolError, match=r"^malformed HTTP response: the response head is larger than 64 KiB$"
    ):
        conn.receive("GET")
    writer.join()


def test_both_framings_never_reuse_the_connection(pair):
    conn, server = pair
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    with pytest.raises(ProtocolError):
        exchange(conn, server, raw).read()


def test_deadline_bounds_the_whole_answer(pair):
    conn, _server = pair
    conn.start(0.0)
    conn.send("GET", "/", "h", {}, None, blocksize=1024)
    with pytest.raises(TimeoutError, match=r"^the request took longer than its deadline$"):
        conn.receive("GET")


# --- tunnels -----------------------------------------------------------------------------------


def test_tunnel_is_asked_with_the_proxy_headers(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 204 Connection established\r\n\r\n")
    open_tunnel(conn, "registry.example:443", {"Proxy-Authorization": "Basic eDp5"}, float("inf"))
    assert received(server) == (
        b"CONNECT registry.example:443 HTTP/1.1\r\nHost: registry.example:443\r\n"
        b"Proxy-Authorization: Basic eDp5\r\n\r\n"
    )


def test_refused_tunnel_names_the_status_only(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(OSError, match=r"^Tunnel connection failed: 407 Proxy Authentication Required$"):
        open_tunnel(conn, "registry.example:443", {"Proxy-Authorization": "Basic c2VjcmV0"}, float("inf"))


def test_large_body_streams_through_in_blocks(pair):
    conn, server = pair
    payload = bytes(range(256)) * 8192  # 2 MiB, more than the socket buffers hold
    conn.start(float("inf"))
    conn.send("GET", "/", "h", {}, None, blocksize=1024)
    writer = threading.Thread(
        target=answer,
        args=(server, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(payload), payload)),
    )
    writer.start()
    body = conn.receive("GET")
    parts = []
    while part := body.read(1 << 20):
        parts.append(part)
    writer.join()
    assert b"".join(parts) == payload
    assert body.complete


@pytest.mark.parametrize(
    ("netloc", "header"),
    [
        ("registry:5000", "registry:5000"),
        ("[::1]:5000", "[::1]:5000"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("bücher.example:5000", "xn--bcher-kva.example:5000"),
    ],
)
def test_host_header_is_ascii(netloc, header):
    from registry_image_resource.registry._http.connections import _host_header

    assert _host_header(netloc) == header
