"""HTTP/1.1 to a registry: pooled, proxied, redirected, over ``framing.py`` (h11).

This module owns the connections: keep-alive connections pooled per (scheme, host, proxy),
``CONNECT`` tunnels through ``HTTPS_PROXY`` and absolute-form requests through ``HTTP_PROXY``
(``NO_PROXY`` honoured, A.2.10; ``http://`` and ``https://`` proxies), TLS (the context is made on
first use, so that a plain-HTTP registry never loads ``ssl``), redirects (credentials only to the
scheme, host and port they were given for), timeouts and a deadline per exchange, bounded bodies,
and truncated bodies reported as errors. It must never retry by itself (``retry.py`` decides)
except to replace a pooled connection the server had closed for a request that can be replayed,
and never log a header.
"""

from __future__ import annotations

import base64
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from registry_image_resource.registry._http.framing import (
    Body,
    Connection,
    DeadlineExceeded,
    IncompleteRead,
    ProtocolError,
    RemoteDisconnected,
    RequestRefused,
    open_tunnel,
)
from registry_image_resource.registry.reference import split_host_port

if TYPE_CHECKING:
    import ssl

__all__ = [
    "HTTP",
    "DeadlineExceeded",
    "IncompleteRead",
    "ProtocolError",
    "ProxyError",
    "RequestRefused",
    "Response",
]

CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 120.0
REQUEST_DEADLINE = 300.0  # for an answer's head and a bounded body, after the request was sent
USER_AGENT = "registry-image-resource (python)"
MAX_IDLE = 16
MAX_REDIRECTS = 10
BLOCK = 1 << 20
MAX_BODY = 4 << 20  # manifests and indexes (containerd's limit), tag pages, metadata
MAX_ERROR_BODY = 64 << 10  # of an error answer, for its message; the rest is not read
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A TLS failure that is only a connection breaking (a reset or EOF in the handshake) is retried.
_TLS_TRANSIENT = ("SSLEOFError", "SSLZeroReturnError", "SSLSyscallError")


def _is_tls_error(err: BaseException) -> bool:
    ssl = sys.modules.get("ssl")  # never imported: no TLS was spoken, so no TLS error
    if ssl is None or not isinstance(err, ssl.SSLError | ssl.CertificateError):
        return False
    return type(err).__name__ not in _TLS_TRANSIENT


def is_transport_failure(err: BaseException) -> bool:
    """Any failure to get an answer: connection, TLS, name lookup, timeout, broken framing, or a
    request or answer refused by this client."""
    return isinstance(err, OSError | ProtocolError | RequestRefused)


def is_retryable_exception(err: BaseException) -> bool:
    """Connection refused or reset, timeouts, name lookups, truncated bodies: yes. TLS failures and
    refused requests or answers: no."""
    if _is_tls_error(err) or isinstance(err, RequestRefused | UnsupportedProxy):
        return False
    return isinstance(err, OSError | ProtocolError)


class ProxyError(OSError):
    """The proxy (``HTTPS_PROXY``/``HTTP_PROXY``) could not be reached or refused the tunnel; the
    cause is chained. Its text never shows the proxy's URL, which may carry credentials."""


class UnsupportedProxy(ProxyError):
    """The proxy URL names a scheme this client does not speak (``socks5://``)."""


def _address(netloc: str, default_port: int) -> tuple[str, int]:
    """``("::1", 5000)`` for ``[::1]:5000``; the default port when none is given."""
    host, port = split_host_port(netloc)
    if port and not (port.isascii() and port.isdigit() and len(port) <= 5):
        raise RequestRefused("invalid port in a URL")
    return host, int(port) if port else default_port


def _origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)``: where credentials given for ``url`` may go."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host, port = _address(parts.netloc.rpartition("@")[2], _DEFAULT_PORTS.get(scheme, 0))
    return scheme, host.lower(), port


def same_origin(url: str, base: str) -> bool:
    """Does ``url`` have the scheme, host and port of ``base``?"""
    if url.startswith(base) and url[len(base) : len(base) + 1] in ("/", "?", ""):
        return True
    return _origin(url) == _origin(base)


def _host_header(netloc: str) -> str:
    """``Host`` for a URL's authority: an internationalised name in its IDNA (``xn--``) form."""
    if netloc.isascii():
        return netloc
    host, port = _address(netloc, 0)
    try:
        return host.encode("idna").decode("ascii") + (f":{port}" if port else "")
    except UnicodeError:
        raise RequestRefused("invalid host name in a URL") from None


class Response:
    """An answer: ``status``, ``headers`` (case-insensitive ``get``), ``url``, and the body as
    ``data`` (already read) or through ``read(amt)`` when streamed."""

    def __init__(
        self, owner: HTTP, key: tuple[str, str, str], conn: Connection, body: Body, url: str
    ) -> None:
        self._owner = owner
        self._key = key
        self._conn: Connection | None = conn
        self._body = body
        self.status = body.status
        self.headers: Mapping[str, str] = body.headers
        self.url = url
        self.data = b""

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes (all if None), as they arrived (no ``Accept-Encoding`` is sent); a
        connection that ends early raises ``IncompleteRead``."""
        data = self._body.read(amt)
        if self._body.complete:
            self.release_conn()
        return data

    def read_bounded(self, limit: int) -> bytes:
        """The whole body if it has at most ``limit`` bytes; else ``RequestRefused``. An error
        answer's body is cut at ``MAX_ERROR_BODY`` instead (the rest is never read). An answer
        without a body (to HEAD) is empty whatever its ``Content-Length`` says."""
        error = self.status >= 400
        cap = min(limit, MAX_ERROR_BODY) if error else limit
        length = self.headers.get("Content-Length", "")
        declared = not self._body.complete and length.isascii() and length.isdigit()
        if not error and declared and int(length) > cap:
            self.close()
            raise RequestRefused(f"the answer's body is larger than {_size(cap)}")
        parts: list[bytes] = []
        total = 0
        while total <= cap:
            piece = self.read(cap + 1 - total)
            if not piece:
                return b"".join(parts)
            parts.append(piece)
            total += len(piece)
        self.close()
        if error:
            return b"".join(parts)[:cap]
        raise RequestRefused(f"the answer's body is larger than {_size(cap)}")

    def no_deadline(self) -> None:
        """A streamed body (a blob) is bounded by its size and each read's timeout, not by time."""
        if self._conn is not None:
            self._conn.deadline = float("inf")

    def release_conn(self) -> None:
        """Give the connection back to the pool if the body was read to its end, else close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._body.complete and not self._body.will_close:
            self._owner._put(self._key, conn)
        else:
            conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 and not limit % (1 << 20) else f"{limit >> 10} KiB"


class HTTP:
    """Pooled HTTP(S) to one registry (and its token endpoint). Thread-safe.

    ``context`` is the TLS context, or a function that makes it on the first HTTPS connection.
    """

    def __init__(
        self,
        context: ssl.SSLContext | Callable[[], ssl.SSLContext],
        *,
        proxies: Mapping[str, str],
        bypass: Any,
    ) -> None:
        self._context_source = context
        self._context: ssl.SSLContext | None = None if callable(context) else context
        self._proxies = dict(proxies)
        self._bypass = bypass
        self._idle: dict[tuple[str, str, str], list[Connection]] = {}
        self._lock = threading.Lock()
        self._context_lock = threading.Lock()
        self.count = 0
        self.read_timeout = READ_TIMEOUT
        self.deadline = REQUEST_DEADLINE

    # --- connections ------------------------------------------------------------------------------

    def tls(self) -> ssl.SSLContext:
        """The TLS context, made now if it was deferred."""
        if self._context is None:
            with self._context_lock:
                if self._context is None:
                    source = self._context_source
                    assert callable(source)
                    self._context = source()
        return self._context

    def _proxy_for(self, url: str, scheme: str) -> str:
        proxy = self._proxies.get(scheme) or self._proxies.get("all") or ""
        if proxy and self._bypass(url, self._proxies):
            return ""
        return proxy

    def _get(self, key: tuple[str, str, str], replayable: bool) -> tuple[Connection, bool]:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return self._new(*key), False
            if replayable or not _closed_by_peer(conn.sock):
                return conn, True
            conn.close()  # a request that cannot be sent twice goes on a connection known open

    def _put(self, key: tuple[str, str, str], conn: Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE:
                idle.append(conn)
                return
        conn.close()

    def _new(self, scheme: str, netloc: str, proxy: str) -> Connection:
        """A connected connection: TCP, the proxy's tunnel for HTTPS through a proxy, then TLS."""
        default_port = _DEFAULT_PORTS[scheme]
        if not proxy:
            return self._open(scheme, _address(netloc, default_port))
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        proxy_scheme = parts.scheme.lower()
        if proxy_scheme not in _DEFAULT_PORTS:
            raise UnsupportedProxy(
                f"proxy scheme {proxy_scheme!r} is not supported (HTTPS_PROXY/HTTP_PROXY: use http:// or https://)"
            )
        try:
            proxy_address = (parts.hostname or "", parts.port or _DEFAULT_PORTS[proxy_scheme])
        except ValueError as err:
            raise ProxyError("invalid proxy port") from err
        credentials = _proxy_headers(parts.username, parts.password)
        conn = self._open(proxy_scheme, proxy_address, proxy=True)
        if scheme == "http":
            conn.proxy_headers = credentials
            return conn
        host, port = _address(netloc, default_port)
        try:
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            open_tunnel(conn, authority, credentials, time.monotonic() + self.deadline)
        except (OSError, ProtocolError, RequestRefused) as err:
            conn.close()
            raise ProxyError(*err.args) from err
        if proxy_scheme == "https":
            from registry_image_resource.registry._http.tunnel import TLSInTLS

            return self._connection(TLSInTLS(conn.sock, self.tls(), host, self.read_timeout))
        return self._wrap_tls(conn.sock, host)

    def _open(self, scheme: str, address: tuple[str, int], *, proxy: bool = False) -> Connection:
        host, port = address
        try:
            # An ASCII name goes as bytes (getaddrinfo takes both; typeshed says str only): as a
            # str, getaddrinfo would first load the IDNA codec, several ms of every check.
            name = host.encode("ascii") if host.isascii() else host
            sock = socket.create_connection((name, port), timeout=CONNECT_TIMEOUT)  # type: ignore[arg-type]
        except OSError as err:
            if proxy:
                raise ProxyError(*err.args) from err
            raise
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                return self._wrap_tls(sock, address[0])
            sock.settimeout(self.read_timeout)
            return self._connection(sock)
        except BaseException:
            sock.close()
            raise

    def _connection(self, sock: Any) -> Connection:
        return Connection(sock, self.read_timeout)

    def _wrap_tls(self, sock: socket.socket, host: str) -> Connection:
        try:
            # An ASCII name as bytes, as above: ssl would encode a str with the IDNA codec.
            name = host.encode("ascii") if host.isascii() else host
            tls = self.tls().wrap_socket(sock, server_hostname=name)
        except BaseException:
            sock.close()
            raise
        tls.settimeout(self.read_timeout)
        return self._connection(tls)

    # --- requests ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: str | bytes | IO[bytes] | None = None,
        stream: bool = False,
        limit: int = MAX_BODY,
    ) -> Response:
        """Send and return the answer; unless ``stream`` its body, at most ``limit`` bytes (an
        error's at most ``MAX_ERROR_BODY``), is already in ``data``.

        Redirects of GET and HEAD are followed; credentials go only to the scheme, host and port
        of ``url``.
        """
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if isinstance(body, str):
            body = body.encode()
        origin: tuple[str, str, int] | None = None  # where credentials may go; made on a redirect
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send_once(method, url, sent, body)
            if response.status not in _REDIRECTS or method not in ("GET", "HEAD"):
                break
            location = response.headers.get("Location")
            if not location:
                break
            response.read_bounded(MAX_ERROR_BODY)
            response.release_conn()
            target = urljoin(url, location.strip())
            if urlsplit(target).scheme.lower() not in _DEFAULT_PORTS:
                raise RequestRefused("redirected to a URL that is not HTTP(S)")
            if origin is None:
                origin = _origin(url)
            if _origin(target) != origin:
                sent = {k: v for k, v in sent.items() if k.lower() not in _CREDENTIALS}
            url = target
        if not stream:
            try:
                response.data = response.read_bounded(limit)
            finally:
                response.release_conn()
        else:
            response.no_deadline()
        return response

    def _send_once(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | IO[bytes] | None
    ) -> Response:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise RequestRefused(f"unsupported URL scheme {scheme!r}")
        proxy = self._proxy_for(url, scheme)
        key = (scheme, parts.netloc, proxy)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host = _host_header(parts.netloc)
        replayable = method in _REPLAYABLE and (body is None or isinstance(body, bytes))
        with self._lock:
            self.count += 1
        while True:
            conn, reused = self._get(key, replayable)
            path = target
            sent = headers
            if proxy and scheme == "http":
                path = f"{scheme}://{parts.netloc}{target}"
                sent = {**headers, **conn.proxy_headers}
            try:
                conn.start(float("inf"))
                conn.send(method, path, host, sent, body, blocksize=BLOCK)
                conn.deadline = time.monotonic() + self.deadline
                answer = conn.receive(method)
            except (RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                # A kept-alive connection the server had already closed: once more on a new one,
                # if the request can be sent again.
                if reused and replayable:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            return Response(self, key, conn, answer, url)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                conn.close()


def _closed_by_peer(sock: Any) -> bool:
    """Has the server closed (or written to) an idle pooled connection? Then it is not usable."""
    import select

    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _proxy_headers(username: str | None, password: str | None) -> dict[str, str]:
    if username is None:
        return {}
    token = f"{unquote(username)}:{unquote(password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(token.encode()).decode("ascii")}
