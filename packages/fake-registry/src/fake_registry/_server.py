"""The socket side: a threaded HTTP/1.1 server that feeds requests to the registry app.

Why the standard library's ``ThreadingHTTPServer`` rather than a WSGI or ASGI server: the fake
registry needs raw control of each connection (drop it after N body bytes, reset it, stream a
multi-GB blob in and out in 1 MiB chunks without buffering, terminate TLS per connection after a
``CONNECT`` for the impersonation proxy), and it must install with no dependency beyond
cryptography, trustme and zstandard. WSGI hides the socket and buffers in ways that differ per
server; uvicorn/hypercorn add an event loop and dependencies and still hide the socket. Measured,
not assumed (``bench/bench_fake_registry_stacks.py``: the same tiny JSON answer, chunked upload hashed into a
file and streamed download on each stack; the fake registry doing its full work against minimal
apps on Werkzeug, cheroot and uvicorn): on the loaded 2-core development machine all four land
within run-to-run noise of each other (roughly 200 to 2,700 small requests/s, 28 to 60 MiB/s
chunked upload, 230 to 460 MiB/s download, about 30 MiB peak RSS each), because Python-level work
(hashing, chunk decoding) dominates rather than the server loop. So the choice falls to control and
dependencies, where the standard library wins. ``bench/bench_fake_registry.py`` has the 1 GiB and
50-client numbers (28 MiB peak RSS for a 1 GiB push and pull, 84 MiB with 50 clients). One
measured pitfall: without ``TCP_NODELAY`` every small answer stalls ~40 ms (Nagle against delayed
ACKs, since headers and body are written separately).

Owns connections (keep-alive, chunked and sized request bodies, TLS wrapping in the connection's
own thread so a slow handshake never blocks ``accept``), fault application, the request log and
clean shutdown (every open connection is closed). Must never decide registry semantics (that is
``_app``) and never lets an exception in one request stop the server.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

from fake_registry._app import Registry, Request, Response, error_response
from fake_registry._control import CONTROL_PREFIX
from fake_registry._errors import CODE_FOR_STATUS, RegistryError
from fake_registry._faults import Fault, Faults, LoggedRequest, RequestLog, masked_headers
from fake_registry._strict_http import StrictHTTPHandler

DRAIN_LIMIT = 1 << 20
IDLE_TIMEOUT = 120.0


class _Empty:
    def read(self, n: int = -1) -> bytes:
        return b""


class _SizedBody:
    """Reads exactly ``length`` bytes of a request body, never more."""

    def __init__(self, rfile: BinaryIO, length: int) -> None:
        self._rfile = rfile
        self.remaining = length

    def read(self, n: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        want = self.remaining if n < 0 else min(n, self.remaining)
        data = self._rfile.read(want)
        if not data:
            raise ConnectionError("client closed the connection mid-body")
        self.remaining -= len(data)
        return data

    @property
    def done(self) -> bool:
        return self.remaining <= 0


class _ChunkedBody:
    """Decodes ``Transfer-Encoding: chunked`` (Go clients stream uploads this way)."""

    def __init__(self, rfile: BinaryIO) -> None:
        self._rfile = rfile
        self._left = 0
        self.done = False

    def _next_chunk(self) -> None:
        line = self._rfile.readline(1024)
        if not line:
            raise ConnectionError("client closed the connection mid-body")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, up to the empty line
                trailer = self._rfile.readline(8192)
                if trailer in (b"\r\n", b"\n", b""):
                    break
            self.done = True
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if self._left == 0 and not self.done:
            self._next_chunk()
        if not self.done and 0 < n <= self._left:
            # the common case (a client's chunk covers the read): no copying into a buffer
            data = self._rfile.read(n)
            if not data:
                raise ConnectionError("client closed the connection mid-body")
            self._left -= len(data)
            if self._left == 0:
                self._rfile.readline(8)
            return data
        out = bytearray()
        while not self.done and (n < 0 or len(out) < n):
            if self._left == 0:
                self._next_chunk()
                continue
            want = self._left if n < 0 else min(self._left, n - len(out))
            data = self._rfile.read(want)
            if not data:
                raise ConnectionError("client closed the connection mid-body")
            out += data
            self._left -= len(data)
            if self._left == 0:
                self._rfile.readline(8)  # the CRLF after the chunk
        return bytes(out)


class RegistryHTTPServer(ThreadingHTTPServer):
    """One listening socket serving a :class:`Registry` (plain HTTP or TLS)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        registry: Registry,
        faults: Faults,
        log: RequestLog,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.registry = registry
        self.faults = faults
        self.log = log
        self.ssl_context = ssl_context
        # The control API's handler (``/_fake/``), set only when it is switched on.
        self.control: Callable[[Request], Response] | None = None
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, RegistryHandler)

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError, OSError)):
            return
        traceback.print_exc(file=sys.stderr)


class RegistryHandler(StrictHTTPHandler):
    """One connection. Every method goes through :meth:`_serve`."""

    protocol_version = "HTTP/1.1"
    server: RegistryHTTPServer
    timeout = IDLE_TIMEOUT
    # Headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK stall every small response by ~40 ms.
    disable_nagle_algorithm = True
    # Set by the impersonation proxy when it hands a decrypted connection over.
    forced_scheme: str | None = None

    def plain_connection(self) -> bool:
        return self.server.ssl_context is None and self.forced_scheme is None

    def setup(self) -> None:
        context = self.server.ssl_context
        if context is not None and not isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(30)
            # The SSLSocket takes over the file descriptor; finish() closes it.
            self.request = context.wrap_socket(self.request, server_side=True)
        self.server.track(self.request, True)
        super().setup()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.track(self.request, False)
        if isinstance(self.request, ssl.SSLSocket):
            with contextlib.suppress(OSError):
                self.request.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; the request log records everything."""

    def _serve(self) -> None:
        scheme = self.forced_scheme or self.server.scheme
        control = self.server.control
        if control is not None and urlsplit(self.path).path.startswith(CONTROL_PREFIX):
            serve_control(self, control, scheme)
            return
        serve_request(self, self.server.registry, self.server.faults, self.server.log, scheme)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve


def _body_reader(handler: BaseHTTPRequestHandler) -> tuple[Any, int | None]:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        return _ChunkedBody(cast(BinaryIO, handler.rfile)), None
    length_text = handler.headers.get("Content-Length")
    if length_text is None:
        return _Empty(), 0
    try:
        length = int(length_text)
    except ValueError:
        length = -1
    if length < 0:
        raise RegistryError("SIZE_INVALID", "invalid Content-Length")
    return _SizedBody(cast(BinaryIO, handler.rfile), length), length


def serve_request(
    handler: BaseHTTPRequestHandler,
    registry: Registry,
    faults: Faults,
    log: RequestLog,
    scheme: str,
) -> None:
    """Answer one parsed request on ``handler``'s connection: faults, app, response, log."""
    target = urlsplit(handler.path)
    path, query = target.path, target.query
    host = handler.headers.get("Host") or target.netloc or "localhost"
    forwarded = handler.headers.get("X-Forwarded-Proto")
    if forwarded in ("http", "https"):
        scheme = forwarded
    headers_items = list(handler.headers.items())
    headers = {k.lower(): v for k, v in headers_items}
    method = handler.command

    def record(status: int) -> None:
        # Logged before the answer goes out: once a client has its answer, the log shows it.
        log.record(
            LoggedRequest(method, path, query, masked_headers(headers_items), status, host=host.lower())
        )

    fault = faults.take(method, path)
    if fault is not None and fault.latency:
        time.sleep(fault.latency)
    if fault is not None and fault.reset:
        record(0)
        _reset(handler)
        return
    try:
        body, length = _body_reader(handler)
    except RegistryError as err:
        handler.close_connection = True
        record(err.status)
        _write(handler, error_response(err), None, method)
        return
    if fault is not None and fault.drop_request_after is not None:
        with contextlib.suppress(ConnectionError, ValueError, OSError):
            left = fault.drop_request_after
            while left > 0 and (data := body.read(min(65536, left))):
                left -= len(data)
        record(0)
        _reset(handler)
        return
    if fault is not None and "no_range" in fault.quirks:
        headers.pop("range", None)
    request = Request(method, path, query, headers, body, f"{scheme}://{host}", length)
    response: Response
    if fault is not None and fault.status is not None:
        response = _fault_response(fault)
    else:
        try:
            response = registry.handle(request)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            handler.close_connection = True
            record(0)
            return
        except Exception:  # a bug must not kill the connection thread silently
            traceback.print_exc(file=sys.stderr)
            response = error_response(RegistryError("UNKNOWN", has_detail=False))
    _drain(handler, body)
    record(response.status)
    _write(handler, response, fault, method)


def serve_control(
    handler: BaseHTTPRequestHandler, control: Callable[[Request], Response], scheme: str
) -> None:
    """Answer a control API request: no faults, no auth, not logged."""
    target = urlsplit(handler.path)
    host = handler.headers.get("Host") or "localhost"
    headers = {k.lower(): v for k, v in handler.headers.items()}
    try:
        body, length = _body_reader(handler)
    except RegistryError as err:
        handler.close_connection = True
        _write(handler, error_response(err), None, handler.command)
        return
    request = Request(handler.command, target.path, target.query, headers, body, f"{scheme}://{host}", length)
    try:
        response = control(request)
    except (ConnectionError, TimeoutError, ssl.SSLError):
        handler.close_connection = True
        return
    _drain(handler, body)
    _write(handler, response, None, handler.command)


def _fault_response(fault: Fault) -> Response:
    assert fault.status is not None
    code = CODE_FOR_STATUS.get(fault.status, "UNKNOWN")
    err = RegistryError(code, has_detail=False, status=fault.status)
    response = error_response(err)
    if fault.retry_after is not None:
        response.headers.append(("Retry-After", str(fault.retry_after)))
    response.headers.append(("Docker-Distribution-Api-Version", "registry/2.0"))
    return response


def _drain(handler: BaseHTTPRequestHandler, body: Any) -> None:
    """Read what the route left of the body so keep-alive works; close if there is too much."""
    if getattr(body, "done", True):
        return
    try:
        left = DRAIN_LIMIT
        while left > 0:
            data = body.read(min(65536, left))
            if not data:
                return
            left -= len(data)
    except (ConnectionError, ValueError, OSError):
        pass
    handler.close_connection = True


def _reset(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    conn = handler.connection
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


def _faulty_chunks(chunks: Iterator[bytes], fault: Fault | None) -> Iterator[bytes]:
    if fault is None or (fault.corrupt_at is None and fault.drop_after is None):
        yield from chunks
        return
    offset = 0
    for chunk in chunks:
        data = chunk
        if fault.corrupt_at is not None and offset <= fault.corrupt_at < offset + len(data):
            i = fault.corrupt_at - offset
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
        if fault.drop_after is not None and offset + len(data) >= fault.drop_after:
            yield data[: fault.drop_after - offset]
            raise _Dropped
        offset += len(data)
        yield data
    if fault.drop_after is not None:
        raise _Dropped


class _Dropped(Exception):
    pass


def _write(handler: BaseHTTPRequestHandler, response: Response, fault: Fault | None, method: str) -> None:
    headers = response.headers
    if fault is not None and fault.quirks:
        drop = set()
        if "no_digest_header" in fault.quirks:
            drop.add("docker-content-digest")
        if "no_content_type" in fault.quirks:
            drop.add("content-type")
        if "no_range" in fault.quirks:
            drop.add("accept-ranges")
        headers = [(k, v) for k, v in headers if k.lower() not in drop]
    handler.send_response(response.status)
    has_length = False
    for key, value in headers:
        if key.lower() == "content-length":
            has_length = True
        handler.send_header(key, value)
    if not has_length and response.status != 204:
        handler.send_header("Content-Length", str(response.length or 0))
    if handler.close_connection:
        handler.send_header("Connection", "close")
    handler.end_headers()
    wfile = handler.wfile
    try:
        if method != "HEAD":
            for chunk in _faulty_chunks(response.chunks(), fault):
                wfile.write(chunk)
        elif fault is not None and fault.drop_after is not None:
            raise _Dropped
        wfile.flush()
    except _Dropped:
        with contextlib.suppress(OSError):
            wfile.flush()
        _reset_after_drop(handler)


def _reset_after_drop(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)
