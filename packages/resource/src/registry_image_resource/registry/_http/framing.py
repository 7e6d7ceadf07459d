"""HTTP/1.1 on one socket, client side, framed by h11: a request out, a response's head and body in.

h11 (python-hyper's sans-IO HTTP/1.1) parses and frames; this module does the socket I/O around
it and adds what h11 leaves to its caller: a bound on interim (1xx) answers, a deadline for the
whole exchange besides each read's timeout, and errors that never carry a header value. One
``h11.Connection`` serves every exchange of a kept-alive socket (``start_next_cycle``), which
keeps h11's cost per request low. It must never guess the frame of a body h11 refuses, and never
log or put a header value into an error.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Mapping
from typing import IO

import h11

MAX_HEAD = 65536  # bytes of a response's status line and headers (h11 refuses more)
MAX_HEADERS = 256
MAX_INTERIM = 16  # 1xx answers before the final one
RECV = 65536  # below malloc's mmap threshold: a recv buffer is allocated per read
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ProtocolError(Exception):
    """The server's bytes are not an HTTP/1.1 response this client can frame."""


class IncompleteRead(ProtocolError):
    """The connection ended before the body did."""

    def __init__(self, received: int) -> None:
        super().__init__(f"connection closed before the end of the body ({received} bytes read)")
        self.received = received


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without answering (a kept-alive connection it had dropped)."""


class RequestRefused(Exception):
    """A request this client will not send or an answer it will not read (an invalid request target
    or header value, a body larger than allowed, a redirect to another scheme). Never retried."""


class DeadlineExceeded(TimeoutError):
    """The exchange took longer than its overall deadline."""


class Headers(Mapping[str, str]):
    """A response's header fields: names are case-insensitive; ``get`` and ``[]`` give the first of
    repeated fields, ``get_all`` every one, in the order received."""

    __slots__ = ("_fields", "_first")

    def __init__(self, fields: list[tuple[str, str]], *, lower: bool = False) -> None:
        self._fields = fields if lower else [(name.lower(), value) for name, value in fields]
        first: dict[str, str] = {}
        for name, value in self._fields:
            first.setdefault(name, value)
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
        return [value for field, value in self._fields if field == wanted]

    def __repr__(self) -> str:  # names only: a value may be a credential
        return f"Headers({sorted(self._first)})"


# h11's messages that say little to a user, in plainer words.
_HEAD_TOO_LARGE = f"malformed HTTP response: the response head is larger than {MAX_HEAD >> 10} KiB"
_PLAIN = {
    "receive buffer too long": _HEAD_TOO_LARGE,
    "received server _switch_upgrade event without a pending proposal": (
        "unexpected 101 Switching Protocols answer"
    ),
    "only transfer-encoding": "malformed HTTP response: a transfer-encoding other than chunked",
}


def _remote(err: h11.RemoteProtocolError) -> ProtocolError:
    # h11's messages name the rule broken, then may quote the offending bytes: keep the rule only.
    rule = str(err).split(":", 1)[0].strip().lower() or "unparseable"
    if "peer closed" in rule:
        return ProtocolError("connection closed inside the response")
    return ProtocolError(_PLAIN.get(rule) or f"malformed HTTP response: {rule}")


class Connection:
    """One open connection (plain, TLS, or tunnelled); one exchange at a time."""

    def __init__(self, sock: socket.socket, read_timeout: float) -> None:
        self.sock = sock
        self.read_timeout = read_timeout
        self._timeout = read_timeout
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.deadline = 0.0
        self._eof = False
        self._received = False  # any bytes of this exchange's answer
        # Headers every request on this connection carries (a proxy's credentials).
        self.proxy_headers: dict[str, str] = {}

    def close(self) -> None:
        self.sock.close()

    @property
    def reusable(self) -> bool:
        """Both sides are done and neither asked to close: ready for the next exchange."""
        return not self._eof and self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def start(self, deadline: float) -> None:
        """Prepare for the next exchange, to end by ``deadline`` (``time.monotonic``)."""
        if self.h11.our_state is h11.DONE:
            self.h11.start_next_cycle()
        self.deadline = deadline
        self._received = False

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
        for an empty POST/PUT/PATCH), chunks for a file whose length the caller did not give. A
        file with a declared ``Content-Length`` must have exactly that many bytes."""
        fields = [("Host", host)]
        framed = False
        for name, value in headers.items():
            lower = name.lower()
            if lower == "host":
                continue
            framed = framed or lower in ("content-length", "transfer-encoding")
            fields.append((name, value))
        if not framed:
            if isinstance(body, bytes):
                if body or method in _BODY_METHODS:
                    fields.append(("Content-Length", str(len(body))))
            elif body is None:
                if method in _BODY_METHODS:
                    fields.append(("Content-Length", "0"))
            else:
                fields.append(("Transfer-Encoding", "chunked"))
        conn = self.h11
        try:
            head = conn.send(h11.Request(method=method, target=target, headers=fields))
        except (h11.LocalProtocolError, UnicodeError):
            raise RequestRefused(f"refusing to send an invalid {method} request (target or header)") from None
        assert head is not None
        try:
            if body is None or isinstance(body, bytes):
                tail = conn.send(h11.Data(data=body)) if body else b""
                end = conn.send(h11.EndOfMessage())
                assert tail is not None
                assert end is not None
                if len(head) + len(tail) <= blocksize:
                    self.sock.sendall(head + tail + end)
                else:
                    self.sock.sendall(head)
                    self.sock.sendall(tail)
                    self.sock.sendall(end)
                return
            self.sock.sendall(head)
            while True:
                block = body.read(blocksize)
                if not block:
                    break
                data = conn.send(h11.Data(data=block))
                assert data is not None
                self.sock.sendall(data)
            end = conn.send(h11.EndOfMessage())
            assert end is not None
            self.sock.sendall(end)
        except h11.LocalProtocolError:
            # h11 counts the body against its declared Content-Length.
            raise RequestRefused("the request body does not match its declared Content-Length") from None

    # --- receiving ----------------------------------------------------------------------------

    def _recv(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the request took longer than its deadline")
        timeout = min(self.read_timeout, remaining)
        if timeout != self._timeout:
            self._timeout = timeout
            self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(RECV)
        except TimeoutError:
            if timeout < self.read_timeout:  # the deadline ran out, not one read's patience
                raise DeadlineExceeded("the request took longer than its deadline") from None
            raise
        if data:
            self._received = True
        else:
            self._eof = True
        self.h11.receive_data(data)

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as err:
                raise _remote(err) from None
            if event is not h11.NEED_DATA:
                return event
            self._recv()

    def receive(self, method: str) -> Body:
        """The next response's status, reason and headers, and its body to read."""
        interim = 0
        while True:
            try:
                event = self.next_event()
            except ProtocolError:
                if self._eof and not self._received:
                    raise RemoteDisconnected("the server closed the connection without an answer") from None
                raise
            if isinstance(event, h11.InformationalResponse):
                interim += 1
                if event.status_code == 101:
                    raise ProtocolError("unexpected 101 Switching Protocols answer")
                if interim > MAX_INTERIM:
                    raise ProtocolError(f"more than {MAX_INTERIM} interim (1xx) answers")
                continue
            if isinstance(event, h11.Response):
                fields = _head_fields(event)
                return Body(
                    self, event.status_code, event.reason.decode("latin-1"), Headers(fields, lower=True)
                )
            if isinstance(event, h11.ConnectionClosed):
                raise RemoteDisconnected("the server closed the connection without an answer")
            raise ProtocolError(f"unexpected {type(event).__name__} before the response")


def _head_fields(event: h11.Response) -> list[tuple[str, str]]:
    """The header fields (names lower-case, as h11 gives them), with the bounds h11 leaves to its
    caller when a whole head arrives in one read; both framings at once are refused."""
    headers = event.headers
    if len(headers) > MAX_HEADERS:
        raise ProtocolError(f"malformed HTTP response: more than {MAX_HEADERS} header fields")
    size = 0
    framings = 0
    fields = []
    for name, value in headers:
        size += len(name) + len(value) + 4
        if name == b"content-length":
            framings |= 1
        elif name == b"transfer-encoding":
            framings |= 2
        fields.append((name.decode("latin-1"), value.decode("latin-1")))
    if size > MAX_HEAD:
        raise ProtocolError(_HEAD_TOO_LARGE)
    if framings == 3:
        raise ProtocolError("malformed HTTP response: both Content-Length and Transfer-Encoding")
    return fields


class Body:
    """A response: ``status``, ``reason``, ``headers``, and the body through ``read``.

    ``complete`` turns true once the body has been read to its end; ``will_close`` says that the
    connection cannot carry another exchange afterwards.
    """

    def __init__(self, conn: Connection, status: int, reason: str, headers: Headers) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self._conn = conn
        self._pending = b""
        self._lookahead: bytes | None = None
        self._error: ProtocolError | None = None
        self._received = 0
        self.complete = False
        self._peek()

    @property
    def will_close(self) -> bool:
        return not self._conn.reusable

    def _next(self) -> bytes | None:
        """The next piece of the body; None at its end."""
        if self._lookahead is not None:
            piece, self._lookahead = self._lookahead, None
            return piece
        if self._error is not None:
            raise self._error
        conn = self._conn
        try:
            event = conn.next_event()
        except ProtocolError as err:
            if str(err) == "connection closed inside the response":
                raise IncompleteRead(self._received) from None
            raise
        if isinstance(event, h11.Data):
            data = bytes(event.data)
            self._received += len(data)
            self._peek()
            return data
        if isinstance(event, h11.EndOfMessage):
            self.complete = True
            return None
        raise ProtocolError(f"unexpected {type(event).__name__} in a response body")

    def _peek(self) -> None:
        """Notice the body's end without waiting for more bytes (so the connection can go back to
        the pool as soon as the last byte is read)."""
        try:
            event = self._conn.h11.next_event()
        except h11.RemoteProtocolError as err:
            self._error = _remote(err)  # raised by the next read
            if str(self._error) == "connection closed inside the response":
                self._error = IncompleteRead(self._received)
            return
        if isinstance(event, h11.EndOfMessage):
            self.complete = True
        elif isinstance(event, h11.Data):
            self._lookahead = bytes(event.data)
            self._received += len(self._lookahead)

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes of the body (all of it if None); ``b""`` at its end.

        A connection that ends before the body does raises ``IncompleteRead`` (bytes that did
        arrive are delivered first).
        """
        if amt is None:
            parts = [self._pending]
            self._pending = b""
            while not self.complete or self._lookahead is not None:
                piece = self._next()
                if piece is not None:
                    parts.append(piece)
            return b"".join(parts)
        if amt <= 0:
            return b""
        if not self._pending:
            if self.complete and self._lookahead is None:
                return b""
            piece = self._next()
            while piece == b"":
                piece = self._next()
            if piece is None:
                return b""
            self._pending = piece
        data = self._pending
        if len(data) <= amt:
            self._pending = b""
            return data
        self._pending = data[amt:]
        return data[:amt]


def open_tunnel(conn: Connection, authority: str, headers: Mapping[str, str], deadline: float) -> None:
    """Ask the proxy on ``conn`` for a tunnel to ``authority`` (``host:port``); OSError if refused.

    Any 2xx opens the tunnel. The error names the proxy's status only, never a header
    (``Proxy-Authorization``).
    """
    conn.start(deadline)
    conn.send("CONNECT", authority, authority, headers, None, blocksize=0)
    answer = conn.receive("CONNECT")
    if not 200 <= answer.status < 300:
        raise OSError(f"Tunnel connection failed: {answer.status} {answer.reason}".rstrip())
    if conn.h11.trailing_data[0]:
        raise ProtocolError("the proxy sent bytes before the tunnel's TLS handshake")
