"""HTTP/1.1 to a registry: pooled, proxied, redirected, over ``wire.py``'s framing.

This module owns the connections: keep-alive connections pooled per (scheme, host, proxy),
``CONNECT`` tunnels through ``HTTPS_PROXY`` and absolute-form requests through ``HTTP_PROXY``
(``NO_PROXY`` honoured, A.2.10), TLS (the context is made on first use, so that a plain-HTTP
registry never loads ``ssl``), redirects (``Authorization`` dropped on a change of host), timeouts,
and truncated bodies reported as errors. It must never retry by itself (``retry.py`` decides)
except to replace a pooled connection the server had closed, and never log a header.
"""

from __future__ import annotations

import base64
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from registry_image_resource.registry._http.wire import (
    Body,
    Connection,
    IncompleteRead,
    ProtocolError,
    RemoteDisconnected,
    open_tunnel,
)
from registry_image_resource.registry.reference import split_host_port

if TYPE_CHECKING:
    import ssl

__all__ = ["HTTP", "IncompleteRead", "ProtocolError", "ProxyError", "Response"]

CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 120.0
USER_AGENT = "registry-image-resource (python)"
MAX_IDLE = 16
MAX_REDIRECTS = 10
BLOCK = 1 << 20
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _is_tls_error(err: BaseException) -> bool:
    ssl = sys.modules.get("ssl")  # never imported: no TLS was spoken, so no TLS error
    return ssl is not None and isinstance(err, ssl.SSLError | ssl.CertificateError)


def is_transport_failure(err: BaseException) -> bool:
    """Any failure to get an answer: connection, TLS, name lookup, timeout, broken framing."""
    return isinstance(err, OSError | ProtocolError)


def is_retryable_exception(err: BaseException) -> bool:
    """Connection refused or reset, timeouts, name lookups, truncated bodies: yes. TLS failures: no."""
    if _is_tls_error(err):
        return False
    return isinstance(err, OSError | ProtocolError)


class ProxyError(OSError):
    """The proxy (``HTTPS_PROXY``/``HTTP_PROXY``) could not be reached or refused the tunnel; the
    cause is chained. Its text never shows the proxy's URL, which may carry credentials."""


def _address(netloc: str, default_port: int) -> tuple[str, int]:
    """``("::1", 5000)`` for ``[::1]:5000``; the default port when none is given."""
    host, port = split_host_port(netloc)
    if port and not port.isdigit():
        raise ProtocolError(f"invalid port in {netloc!r}")
    return host, int(port) if port else default_port


def _host_header(netloc: str) -> str:
    """``Host`` for a URL's authority: an internationalised name in its IDNA (``xn--``) form."""
    if netloc.isascii():
        return netloc
    host, port = _address(netloc, 0)
    return host.encode("idna").decode("ascii") + (f":{port}" if port else "")


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

    def read(self, amt: int | None = None, decode_content: bool = False) -> bytes:
        """Up to ``amt`` bytes (all if None); a connection that ends early raises ``IncompleteRead``.

        ``decode_content`` is accepted for symmetry with urllib3: no ``Accept-Encoding`` is sent,
        so bodies arrive as they are.
        """
        data = self._body.read(amt)
        if self._body.complete:
            self.release_conn()
        return data

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

    def _get(self, key: tuple[str, str, str]) -> tuple[Connection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        return self._new(*key), False

    def _put(self, key: tuple[str, str, str], conn: Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE:
                idle.append(conn)
                return
        conn.close()

    def _new(self, scheme: str, netloc: str, proxy: str) -> Connection:
        """A connected connection: TCP, the proxy's tunnel for HTTPS through a proxy, then TLS."""
        default_port = 443 if scheme == "https" else 80
        if not proxy:
            return self._open(scheme, _address(netloc, default_port))
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        try:
            proxy_address = (parts.hostname or "", parts.port or 80)
        except ValueError as err:
            raise ProxyError("invalid proxy port") from err
        if scheme == "http":
            conn = self._open("http", proxy_address, proxy=True)
            conn.proxy_headers = _proxy_headers(parts.username, parts.password)
            return conn
        host, port = _address(netloc, default_port)
        conn = self._open("http", proxy_address, proxy=True)
        try:
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            open_tunnel(conn, authority, _proxy_headers(parts.username, parts.password))
        except (OSError, ProtocolError) as err:
            conn.close()
            raise ProxyError(*err.args) from err
        return self._wrap_tls(conn.detach_socket(), host)

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
            sock.settimeout(READ_TIMEOUT)
            return Connection(sock)
        except BaseException:
            sock.close()
            raise

    def _wrap_tls(self, sock: socket.socket, host: str) -> Connection:
        try:
            # An ASCII name as bytes, as above: ssl would encode a str with the IDNA codec.
            name = host.encode("ascii") if host.isascii() else host
            tls = self.tls().wrap_socket(sock, server_hostname=name)
        except BaseException:
            sock.close()
            raise
        tls.settimeout(READ_TIMEOUT)
        return Connection(tls)

    # --- requests ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: str | bytes | IO[bytes] | None = None,
        stream: bool = False,
    ) -> Response:
        """Send and return the answer; unless ``stream`` its body is already in ``data``."""
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if isinstance(body, str):
            body = body.encode()
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send_once(method, url, sent, body)
            if response.status not in _REDIRECTS or method not in ("GET", "HEAD"):
                break
            location = response.headers.get("Location")
            if not location:
                break
            response.read()
            response.release_conn()
            target = urljoin(url, location)
            if urlsplit(target).netloc != urlsplit(url).netloc:
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            url = target
        if not stream:
            try:
                response.data = response.read()  # b"" for HEAD, which also marks it complete
            finally:
                response.release_conn()
        return response

    def _send_once(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | IO[bytes] | None
    ) -> Response:
        parts = urlsplit(url)
        scheme = parts.scheme
        if scheme not in ("http", "https"):
            raise ProtocolError(f"unsupported URL scheme {scheme!r}")
        proxy = self._proxy_for(url, scheme)
        key = (scheme, parts.netloc, proxy)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        with self._lock:
            self.count += 1
        while True:
            conn, reused = self._get(key)
            path = target
            sent = headers
            if proxy and scheme == "http":
                path = f"{scheme}://{parts.netloc}{target}"
                sent = {**headers, **conn.proxy_headers}
            try:
                conn.send(method, path, _host_header(parts.netloc), sent, body, blocksize=BLOCK)
                answer = conn.receive(method)
            except (RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                # A kept-alive connection the server had already closed: once more on a new one,
                # if the body can be sent again.
                if reused and (body is None or isinstance(body, bytes)):
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


def _proxy_headers(username: str | None, password: str | None) -> dict[str, str]:
    if username is None:
        return {}
    token = f"{unquote(username)}:{unquote(password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(token.encode()).decode("ascii")}
