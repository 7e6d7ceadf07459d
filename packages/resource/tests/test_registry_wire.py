"""HTTP/1.1 framing (registry/wire.py) over a real socket pair: what is sent, how answers are framed."""

from __future__ import annotations

import io
import socket
import threading

import pytest

from registry_image_resource.registry._http.wire import (
    Connection,
    Headers,
    IncompleteRead,
    ProtocolError,
    RemoteDisconnected,
    open_tunnel,
)


@pytest.fixture
def pair():
    client, server = socket.socketpair()
    client.settimeout(5)
    server.settimeout(5)
    conn = Connection(client)
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
    with pytest.raises(ValueError, match="a request header contains a line break"):
        conn.send("GET", "/", "h", {"X": "a\r\nInjected: yes"}, None, blocksize=1024)
    assert received(server) == b""


# --- receiving ---------------------------------------------------------------------------------


def test_content_length_body_and_connection_reusable(pair):
    conn, server = pair
    answer(
        server, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\n"
    )
    first = conn.receive("GET")
    assert (first.status, first.reason, first.read(), first.complete, first.will_close) == (
        200,
        "OK",
        b"hello",
        True,
        False,
    )
    second = conn.receive("GET")
    assert (second.status, second.read(), second.complete) == (204, b"", True)


def test_headers_are_case_insensitive_and_keep_repeats(pair):
    conn, server = pair
    answer(
        server,
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=a\r\n"
        b"www-authenticate: Bearer realm=b\r\nContent-Length: 0\r\n\r\n",
    )
    body = conn.receive("GET")
    assert body.headers.get("Www-Authenticate") == "Basic realm=a"
    assert body.headers["WWW-AUTHENTICATE"] == "Basic realm=a"
    assert body.headers.get_all("WWW-Authenticate") == ["Basic realm=a", "Bearer realm=b"]
    assert body.headers.get("Missing") is None
    assert "content-length" in body.headers


def test_headers_repr_shows_names_only():
    assert repr(Headers([("Authorization", "Bearer secret")])) == "Headers(['authorization'])"


def test_head_answer_has_no_body_despite_its_length(pair):
    conn, server = pair
    answer(
        server,
        b"HTTP/1.1 200 OK\r\nContent-Length: 457\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    )
    head = conn.receive("HEAD")
    assert (head.read(), head.complete, head.headers["Content-Length"]) == (b"", True, "457")
    assert conn.receive("GET").status == 404


def test_interim_100_continue_is_skipped(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    assert conn.receive("PUT").status == 201


def test_chunked_body_with_extensions_and_trailers(pair):
    conn, server = pair
    answer(
        server,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    )
    body = conn.receive("GET")
    assert (body.read(), body.complete, body.will_close) == (b"hello world", True, False)
    assert conn.receive("GET").status == 204


def test_chunked_body_read_in_small_pieces(pair):
    conn, server = pair
    answer(
        server, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    body = conn.receive("GET")
    pieces = []
    while piece := body.read(4):
        pieces.append(piece)
    assert pieces == [b"hell", b"o", b" wor", b"ld"]
    assert body.complete


def test_body_without_length_lasts_until_close(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\n\r\nall of it", close=True)
    body = conn.receive("GET")
    assert (body.read(), body.complete, body.will_close) == (b"all of it", True, True)


def test_connection_close_and_http10_are_not_reused(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert conn.receive("GET").will_close
    answer(server, b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert conn.receive("GET").will_close
    answer(server, b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
    assert not conn.receive("GET").will_close


def test_folded_header_joins_the_previous_value(pair):
    conn, server = pair
    answer(server, b'HTTP/1.1 200 OK\r\nLink: <a>;\r\n rel="next"\r\nContent-Length: 0\r\n\r\n')
    assert conn.receive("GET").headers["Link"] == '<a>; rel="next"'


def test_truncated_body_delivers_what_came_then_raises(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", close=True)
    body = conn.receive("GET")
    assert body.read(8) == b"hello"
    with pytest.raises(
        IncompleteRead,
        match=r"^connection closed before the end of the body \(5 bytes read, 5 more expected\)$",
    ):
        body.read(8)
    assert not body.complete


def test_truncated_body_read_whole_raises(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", close=True)
    with pytest.raises(IncompleteRead):
        conn.receive("GET").read()


def test_truncated_chunked_body_raises(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", close=True)
    with pytest.raises(IncompleteRead):
        conn.receive("GET").read()


def test_closed_without_answer_is_remote_disconnected(pair):
    conn, server = pair
    server.shutdown(socket.SHUT_WR)
    with pytest.raises(RemoteDisconnected, match=r"^the server closed the connection without an answer$"):
        conn.receive("GET")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "^conflicting Content-Length headers$",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "^invalid Content-Length: '-1'$"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "^not an HTTP/1.x status line: b'SSH-2.0-OpenSSH\\\\r\\\\n'$"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "^not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "^malformed response header$"),
        (b"HTTP/1.1 200 OK\r\nName : value\r\n\r\n", "^malformed response header$"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "^malformed chunk size$"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
            "^a chunk does not end with CRLF$",
        ),
    ],
)
def test_unframeable_answers_are_protocol_errors(pair, raw, message):
    conn, server = pair
    answer(server, raw, close=True)
    with pytest.raises(ProtocolError, match=message):
        conn.receive("GET").read()


def test_too_many_headers_is_a_protocol_error(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 300 + b"\r\n", close=True)
    with pytest.raises(ProtocolError, match=r"^more than 256 response headers$"):
        conn.receive("GET")


def test_both_framings_never_reuse_the_connection(pair):
    conn, server = pair
    answer(
        server,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    )
    body = conn.receive("GET")
    assert (body.read(), body.will_close) == (b"abc", True)


# --- tunnels -----------------------------------------------------------------------------------


def test_tunnel_is_asked_with_the_proxy_headers(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 200 Connection established\r\n\r\n")
    open_tunnel(conn, "registry.example:443", {"Proxy-Authorization": "Basic eDp5"})
    assert received(server) == (
        b"CONNECT registry.example:443 HTTP/1.1\r\nHost: registry.example:443\r\n"
        b"Proxy-Authorization: Basic eDp5\r\n\r\n"
    )


def test_refused_tunnel_names_the_status_only(pair):
    conn, server = pair
    answer(server, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(OSError, match=r"^Tunnel connection failed: 407 Proxy Authentication Required$"):
        open_tunnel(conn, "registry.example:443", {"Proxy-Authorization": "Basic c2VjcmV0"})


def test_large_body_streams_through_in_blocks(pair):
    conn, server = pair
    payload = bytes(range(256)) * 8192  # 2 MiB, more than the socket buffers hold
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
