"""HTTP/1.1 on one socket, client side: a request out, a response's head and body in (RFC 9112).

Written by hand, because every library that does this costs more to import than a whole
``check`` against a loopback registry spends on the network: the standard library's
``http.client`` imports the ``email`` package to parse headers (about 40 ms of wall time on this
project's 2-CPU machines), h11 about 55 ms (it is built on dataclasses and typing), urllib3 and
requests more still; ``check`` runs every minute per pipeline (bench/bench_check.py measures it).
What is here is only what a registry client needs: persistent connections; bodies framed by
``Content-Length``, by chunks or by the connection's end; HEAD, 1xx, 204 and 304 answers without a
body; ``CONNECT`` tunnels. It must never guess the frame of a body it cannot frame (conflicting
lengths are errors, so that nothing the server sends can be read as the next response), and never
log or put a header value into an error.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import IO

MAX_LINE = 65536
MAX_HEADERS = 256
_NO_BODY = frozenset({204, 304})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ProtocolError(Exception):
    """The server's bytes are not an HTTP/1.1 response this client can frame."""


class IncompleteRead(ProtocolError):
    """The connection ended before the body did."""

    def __init__(self, received: int, expected: int | None) -> None:
        more = f", {expected} more expected" if expected is not None else ""
        super().__init__(f"connection closed before the end of the body ({received} bytes read{more})")
        self.received = received
        self.expected = expected


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without answering (a kept-alive connection it had dropped)."""


class Headers(Mapping[str, str]):
    """A response's header fields: names are case-insensitive; ``get`` and ``[]`` give the first of
    repeated fields, ``get_all`` every one, in the order received."""

    __slots__ = ("_fields", "_first")

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        first: dict[str, str] = {}
        for name, value in fields:
            first.setdefault(name.lower(), value)
        self._first = first

    def __getitem__(self, name: str) -> str:
        return self._first[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._first.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for field, value in self._fields if field.lower() == wanted]

    def __repr__(self) -> str:  # names only: a value may be a credential
        return f"Headers({sorted(self._first)})"


def _tokens(headers: Headers, name: str) -> list[str]:
    return [t.strip().lower() for value in headers.get_all(name) for t in value.split(",") if t.strip()]


class Connection:
    """One open connection (plain, TLS, or tunnelled); one exchange at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb")
        # Headers every request on this connection carries (a proxy's credentials).
        self.proxy_headers: dict[str, str] = {}

    def close(self) -> None:
        self._reader.close()
        self.sock.close()

    def detach_socket(self) -> socket.socket:
        """The socket without this connection's reader (to speak TLS on it after a tunnel)."""
        self._reader.close()  # the socket stays open: the reader only held a reference to it
        return self.sock

    # --- sending ------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        target: str,
        host: str,
        headers: Mapping[str, str],
        body: bytes | IO[bytes] | None,
        *,
        blocksize: int,
    ) -> None:
        """The request line, ``Host``, ``headers`` and the body: ``Content-Length`` for bytes (and
        for an empty POST/PUT/PATCH), chunks for a file whose length the caller did not give."""
        names = {name.lower() for name in headers}
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
        chunked = False
        if "content-length" not in names and "transfer-encoding" not in names:
            if isinstance(body, bytes):
                if body or method in _BODY_METHODS:
                    lines.append(f"Content-Length: {len(body)}")
            elif body is None:
                if method in _BODY_METHODS:
                    lines.append("Content-Length: 0")
            else:
                chunked = True
                lines.append("Transfer-Encoding: chunked")
        for line in lines:
            if "\r" in line or "\n" in line:
                raise ValueError("a request header contains a line break")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body is None or isinstance(body, bytes):
            self.sock.sendall(head + body if body and len(body) <= blocksize else head)
            if body and len(body) > blocksize:
                self.sock.sendall(body)
            return
        self.sock.sendall(head)
        while True:
            block = body.read(blocksize)
            if not block:
                break
            self.sock.sendall(b"%x\r\n%b\r\n" % (len(block), block) if chunked else block)
        if chunked:
            self.sock.sendall(b"0\r\n\r\n")

    # --- receiving ----------------------------------------------------------------------------

    def _line(self) -> bytes:
        line = self._reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ProtocolError("a response line is too long")
        return line

    def _fields(self) -> list[tuple[str, str]]:
        fields: list[tuple[str, str]] = []
        while True:
            line = self._line()
            if line in (b"\r\n", b"\n"):
                return fields
            if not line:
                raise ProtocolError("connection closed inside the response headers")
            if len(fields) >= MAX_HEADERS:
                raise ProtocolError(f"more than {MAX_HEADERS} response headers")
            if line[:1] in (b" ", b"\t"):  # obsolete line folding: part of the previous value
                if not fields:
                    raise ProtocolError("malformed response header")
                name, value = fields[-1]
                fields[-1] = (name, f"{value} {line.decode('latin-1').strip()}")
                continue
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not name or name != name.strip():
                raise ProtocolError("malformed response header")
            fields.append((name, value.strip()))

    def receive(self, method: str) -> Body:
        """The next response's status, reason and headers, and its body to read."""
        while True:
            line = self._line()
            if not line:
                raise RemoteDisconnected("the server closed the connection without an answer")
            version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
                raise ProtocolError(f"not an HTTP/1.x status line: {line[:40]!r}")
            status = int(code)
            headers = Headers(self._fields())
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue and other interim answers: the real one follows
            return Body(self._reader, status, reason, headers, method=method, version=version)


class Body:
    """A response: ``status``, ``reason``, ``headers``, and the body through ``read``.

    ``complete`` turns true once the body has been read to its end; ``will_close`` says that the
    connection cannot carry another exchange afterwards.
    """

    def __init__(
        self, reader: IO[bytes], status: int, reason: str, headers: Headers, *, method: str, version: str
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self._reader = reader
        self._received = 0
        connection = _tokens(headers, "Connection")
        if version == "HTTP/1.0":
            self.will_close = "keep-alive" not in connection
        else:
            self.will_close = "close" in connection
        self._chunked = False
        self._chunk_left = 0
        self._length: int | None = None
        encodings = _tokens(headers, "Transfer-Encoding")
        if method == "HEAD" or status in _NO_BODY or 100 <= status < 200:
            self._length = 0
        elif encodings:
            if encodings[-1] != "chunked":
                self.will_close = True  # framed by the connection's end (RFC 9112 6.3)
            else:
                self._chunked = True
            if "content-length" in headers:
                self.will_close = True  # both framings: a smuggling attempt; never reuse
        else:
            lengths = {v.strip() for v in headers.get_all("Content-Length")}
            if len(lengths) > 1:
                raise ProtocolError("conflicting Content-Length headers")
            if lengths:
                text = lengths.pop()
                if not text.isdigit():
                    raise ProtocolError(f"invalid Content-Length: {text[:20]!r}")
                self._length = int(text)
            else:
                self.will_close = True
        self.complete = self._length == 0

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes of the body (all of it if None); ``b""`` at its end.

        A connection that ends before a declared length or the last chunk raises ``IncompleteRead``.
        """
        if self.complete or amt == 0:
            return b""
        if self._chunked:
            return self._read_chunked(amt)
        if self._length is None:  # until the connection ends
            data = self._reader.read() if amt is None else self._reader.read(amt)
            if not data or amt is None:
                self.complete = True
            self._received += len(data)
            return data
        wanted = self._length if amt is None else min(amt, self._length)
        data = self._reader.read(wanted)
        self._received += len(data)
        self._length -= len(data)
        # Bytes that did arrive are delivered (a resuming reader counts them); the next read fails.
        if not data or (amt is None and self._length):
            raise IncompleteRead(self._received, self._length)
        if self._length == 0:
            self.complete = True
        return data

    def _read_chunked(self, amt: int | None) -> bytes:
        parts: list[bytes] = []
        left = amt
        while left is None or left > 0:
            if self._chunk_left == 0:
                size = self._chunk_size()
                if size == 0:
                    self._trailers()
                    self.complete = True
                    break
                self._chunk_left = size
            wanted = self._chunk_left if left is None else min(left, self._chunk_left)
            data = self._reader.read(wanted)
            self._received += len(data)
            if not data or (left is None and len(data) < wanted):
                raise IncompleteRead(self._received, None)
            parts.append(data)
            self._chunk_left -= len(data)
            if left is not None:
                left -= len(data)
            if self._chunk_left == 0 and self._reader.readline(MAX_LINE) not in (b"\r\n", b"\n"):
                raise ProtocolError("a chunk does not end with CRLF")
            if left is not None and parts:
                break  # a short read is fine: the caller asks again
        return b"".join(parts)

    def _chunk_size(self) -> int:
        line = self._reader.readline(MAX_LINE + 1)
        if not line:
            raise IncompleteRead(self._received, None)
        text = line.split(b";", 1)[0].strip()
        if len(line) > MAX_LINE or not text or any(c not in b"0123456789abcdefABCDEF" for c in text):
            raise ProtocolError("malformed chunk size")
        return int(text, 16)

    def _trailers(self) -> None:
        for _ in range(MAX_HEADERS + 1):
            line = self._reader.readline(MAX_LINE + 1)
            if not line:
                raise IncompleteRead(self._received, None)
            if line in (b"\r\n", b"\n"):
                return
        raise ProtocolError(f"more than {MAX_HEADERS} trailer fields")


def open_tunnel(conn: Connection, authority: str, headers: Mapping[str, str]) -> None:
    """Ask the proxy on ``conn`` for a tunnel to ``authority`` (``host:port``); OSError if refused.

    The error names the proxy's status only, never a header (``Proxy-Authorization``).
    """
    conn.send("CONNECT", authority, authority, headers, None, blocksize=0)
    answer = conn.receive("CONNECT")
    if answer.status != 200:
        raise OSError(f"Tunnel connection failed: {answer.status} {answer.reason}".rstrip())
    # A 2xx to CONNECT has no body; the bytes that follow belong to the tunnel.
